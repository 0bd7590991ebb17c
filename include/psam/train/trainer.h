// The training loop: optimiser steps with the LR schedule, gradient clipping and non-finite
// guards, validation, best and periodic checkpoints, early stopping, metrics.jsonl /
// TensorBoard logging, a progress bar, and exact resume from checkpoints/last.pt.
//
// The model-specific part (how a batch becomes a loss) is a TrainTask, so the same loop trains
// Probabilistic SAM, the deterministic baseline, or anything else.
//
// Reproducibility: with the same seed, thread count and device, an uninterrupted run and a run
// stopped at any step and resumed end with bit-identical weights on CPU (also with several
// ranks, resumed at the same world size). The loss's randomness
// must come from the generator passed to TrainTask::loss (checkpointed with the run); validation
// uses a generator of its own, so validating does not change the training stream.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "psam/data/loader/loader.h"
#include "psam/dist/group.h"
#include "psam/train/checkpoint.h"
#include "psam/train/loss.h"
#include "psam/train/optimizer.h"
#include "psam/train/train_config.h"
#include "psam/util/progress.h"
#include "psam/util/run_options.h"

namespace psam::train {

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // The module whose state dict the checkpoints hold.
  virtual torch::nn::Module& module() = 0;
  // The parameters the optimiser updates, by state-dict name.
  virtual NamedParameters trainable_parameters() = 0;
  // The loss of one batch at optimiser step `step` (0-based). Randomness (e.g. the posterior
  // draw) comes from `generator` (a CPU generator; tasks on CUDA may use the default CUDA
  // generator instead, which checkpoints also record).
  virtual StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) = 0;
  // Called once before training and after a resume: e.g. switches the model to train mode.
  virtual void train_mode(bool on) { module().train(on); }
  // After each optimiser step taken (not a skipped one), with the step's logged terms as means
  // over the global batch, the same on every rank: e.g. GECO's multiplier update.
  virtual void after_step(const NamedValues& /*terms*/) {}
  // The task's own training state (e.g. GECO's), saved in checkpoints and given back to
  // load_state on resume (empty from a checkpoint written without it).
  virtual NamedValues state() const { return {}; }
  virtual void load_state(const NamedValues& /*state*/) {}
};

// The files of a run directory.
struct RunPaths {
  explicit RunPaths(std::string dir);
  std::string dir, config, checkpoints, last, best, metrics, log, tensorboard;
  std::string epoch_checkpoint(int64_t epoch) const;  // checkpoints/epoch_NNN.pt (1-based)
};

// Extra validation metrics for the epoch (e.g. the evaluator's GED), named like "val/ged".
using ValidationHook =
    std::function<std::vector<std::pair<std::string, double>>(int64_t epoch)>;

struct TrainerOptions {
  TrainConfig config;
  // Exists; the caller has written config.yaml there (and may log::add_file its train.log).
  std::string run_dir;
  std::string config_hash;  // of that config.yaml, recorded in every checkpoint
  // Stored in every checkpoint so tools rebuild the model from it (Checkpoint::model_config,
  // Checkpoint::preprocessing); empty = not stored.
  std::string model_config;
  std::string preprocessing;
  uint64_t seed = 0;
  bool resume = false;  // continue from run_dir/checkpoints/last.pt
  // Autocast around the loss (run.precision): bf16 on the CPU or CUDA, fp16 on CUDA.
  RunOptions::Precision precision = RunOptions::Precision::kFp32;
  bool cuda = false;    // the task computes on CUDA (for autocast)
  // Dynamic loss scaling (train::GradScaler; run.precision fp16 turns it on). Overflowing steps
  // are skipped without counting as non-finite steps.
  bool grad_scaler = false;
  double grad_scaler_init = 65536.0;
  // Stop as if interrupted once this many optimiser steps are done (0 = no); last.pt is
  // written first. Tests use it to split a run.
  int64_t stop_at_step = 0;
  // The same once this many loader batches are done in total, also inside a gradient-
  // accumulation group (0 = no).
  int64_t stop_at_batch = 0;
  // Polled every step and between validation batches (set by SIGINT, SIGTERM, SIGUSR1 in the
  // CLI): last.pt is written and the run stops with kInterrupted.
  const std::atomic<bool>* interrupt = nullptr;
  ValidationHook validation;
  ProgressOptions progress;
  // Data-parallel training (psam/dist): null = one process. Every rank calls train() with loaders
  // sharded by rank (LoaderOptions::shard_rank / shard_count) and the same options; rank 0
  // alone writes checkpoints, metrics.jsonl and TensorBoard files.
  dist::Group* group = nullptr;
  int64_t bucket_bytes = 25 << 20;  // gradient buckets of a data-parallel run
};

enum class TrainStatus {
  kFinished,     // ran every epoch (or max_steps)
  kEarlyStopped, // best_metric did not improve for early_stop_patience validations
  kInterrupted,  // stopped, resumable (stop_at_step or interrupt): last.pt holds everything
  kNonFinite,    // more than max_nonfinite_steps non-finite losses in a row; checkpoints intact
};
std::string to_string(TrainStatus status);

struct TrainResult {
  TrainStatus status = TrainStatus::kFinished;
  int64_t steps = 0;           // optimiser steps done in total
  int64_t skipped_steps = 0;   // non-finite steps skipped in this call
  int64_t epochs = 0;          // epochs completed in total
  BestState best;
  std::vector<std::pair<std::string, double>> last_validation;
};

// Trains task on train_loader (its options' seed should be the run's seed); val_loader may be
// null (no val loss). The loader's stream position is checkpointed, so the loaders must be
// made with the same options when resuming.
TrainResult train(TrainTask& task, data::Loader& train_loader, data::Loader* val_loader,
                  const TrainerOptions& options);

}  // namespace psam::train
