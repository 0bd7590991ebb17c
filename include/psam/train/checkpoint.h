// Training checkpoints: everything a run needs to continue exactly where it stopped. Written as
// a torch.save-compatible archive (Python: torch.load(path)) holding one dict:
//
//   model        state dict (the model's own parameter names, e.g. sam.mask_decoder.*)
//   optimizer    {"kind": "adam", "state": {"<param>.exp_avg": t, "<param>.exp_avg_sq": t,
//                 "<param>.step": t}}
//   scheduler    {"kind": "cosine", "lr": last lr}
//   epoch, step  epoch in progress (0-based) and optimiser steps done
//   loader       {"epoch", "batch"}: the next batch of the training stream
//   rng          {"cpu": default CPU generator state, "train": the trainer's generator state,
//                 "cuda": default CUDA generator state (only when CUDA is present),
//                 "cpu_ranks", "train_ranks": lists of every rank's states (several ranks only)}
//   train        {"nonfinite_in_a_row", "epoch_batches", "epoch_sums": {term: sum},
//                 "best": {"metric", "value", "epoch", "stale"},
//                 "accumulation": {"micro", "samples", "sums", "nonfinite", "ids"} (only
//                 inside a gradient-accumulation group)}
//   grads        the gradients accumulated so far in that group, by parameter name (only then)
//   scaler       {"scale", "growth_tracker"}: the fp16 gradient scaler (only with one)
//   task         {name: number}: the task's own state (TrainTask::state, e.g. GECO's
//                lambda), only when it has one
//   ema          the exponential moving average of the trained parameters, by name (only with
//                train.ema_decay > 0); it has been updated once per optimiser step

//   config_hash  SHA-256 of the run's config.yaml
//   model_config the resolved model section as JSON (models::model_config_json), so any tool
//                rebuilds the model from the checkpoint alone
//   preprocessing  the data's intensity mapping as JSON (data::intensity_json)
//
// Files appear atomically (temporary + rename): an interrupted or failed write leaves the
// previous file as it was.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "psam/data/loader/loader.h"
#include "psam/io/tensor_dict.h"

namespace psam::train {

// Named numbers: loss terms, or a task's state.
using NamedValues = std::vector<std::pair<std::string, double>>;

struct BestState {
  std::string metric;
  double value = std::numeric_limits<double>::quiet_NaN();  // NaN: no validation yet
  int64_t epoch = -1;
  int64_t stale = 0;  // validations since the last improvement
};

// A gradient-accumulation group in progress (train.accumulate_steps > 1).
struct AccumulationState {
  int64_t micro = 0;    // micro-batches of the group done
  int64_t samples = 0;  // their samples over all ranks
  // Their loss terms' sums weighted by samples ("loss" first), for the group's logged means.
  std::vector<std::pair<std::string, double>> sums;
  bool nonfinite = false;  // a micro-batch's loss was not finite: the group is skipped
  std::vector<std::string> ids;  // the group's sample ids so far (for the non-finite report)
};

struct TrainState {
  int64_t epoch = 0;
  int64_t step = 0;
  data::LoaderPosition loader;
  int64_t nonfinite_in_a_row = 0;
  // Sums of this epoch's loss terms over its finite batches, so a resumed epoch reports the
  // means of the whole epoch.
  std::vector<std::pair<std::string, double>> epoch_sums;
  int64_t epoch_batches = 0;
  BestState best;
  AccumulationState accumulation;
};

struct Checkpoint {
  io::TensorDict model;
  std::string optimizer_kind;
  io::TensorDict optimizer;
  io::TensorDict grads;  // inside an accumulation group: the gradients so far; else empty
  io::TensorDict ema;    // train.ema_decay > 0: the averaged trained parameters; else empty
  NamedValues task;      // TrainTask::state(); empty when the task has none
  double scaler_scale = 0;  // the gradient scaler's scale (fp16); 0 = no scaler
  int64_t scaler_growth_tracker = 0;
  std::string schedule_kind;
  double lr = 0;
  TrainState state;
  at::Tensor rng_cpu, rng_train, rng_cuda;  // rng_cuda undefined without CUDA
  // Data-parallel runs: every rank's CPU and training generator states, by rank (rank 0's are
  // also rng_cpu / rng_train); empty for one process.
  std::vector<at::Tensor> rng_cpu_ranks, rng_train_ranks;
  std::string config_hash;
  std::string model_config;   // empty: not stored (checkpoints of older versions)
  std::string preprocessing;  // empty: not stored
};

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// psam::Error naming the path and the missing or mistyped entry.
Checkpoint read_checkpoint(const std::string& path);

}  // namespace psam::train
