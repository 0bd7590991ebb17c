// Options of a training run: optimiser, learning-rate schedule, length, validation, best
// checkpoint, early stopping, logging, checkpoints, the embedding cache. Plain data with
// defaults; the command line fills it from the `train:` section of a config.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "psam/util/names.h"

namespace psam::train {

enum class OptimizerKind { kAdam, kAdamW, kSgd };
enum class ScheduleKind {
  kConstant,  // lr throughout
  kStep,      // lr * gamma^(floor(step / step_size))
  kCosine,    // cosine from lr to min_lr over the run's total steps
};
enum class MetricMode { kMin, kMax };

inline constexpr NameTable<OptimizerKind, 3> kOptimizerNames = {{
    {OptimizerKind::kAdam, "adam"},
    {OptimizerKind::kAdamW, "adamw"},
    {OptimizerKind::kSgd, "sgd"},
}};
constexpr const auto& enum_names(OptimizerKind) { return kOptimizerNames; }
inline constexpr NameTable<ScheduleKind, 3> kScheduleNames = {{
    {ScheduleKind::kConstant, "constant"},
    {ScheduleKind::kStep, "step"},
    {ScheduleKind::kCosine, "cosine"},
}};
constexpr const auto& enum_names(ScheduleKind) { return kScheduleNames; }
inline constexpr NameTable<MetricMode, 2> kMetricModeNames = {{
    {MetricMode::kMin, "min"},
    {MetricMode::kMax, "max"},
}};
constexpr const auto& enum_names(MetricMode) { return kMetricModeNames; }

inline const std::vector<std::string> kActivationCheckpointParts = {"image_encoder",
                                                                   "mask_decoder", "latent_nets"};

struct TrainConfig {
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double lr = 1e-4;
  double weight_decay = 0.0;  // Adam, SGD: L2 added to the gradient; AdamW: decoupled
  double momentum = 0.9;      // SGD's momentum (no dampening, not Nesterov)
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;

  // Parameter groups (psam/train/param_groups.h). Learning-rate multipliers by part: a key is
  // a dotted run of state-dict name components ("image_encoder", "sam.mask_decoder",
  // "prior"); the longest key that a parameter's name contains applies.
  std::map<std::string, double> lr_mult;
  // Layer-wise learning-rate decay of ViT image encoders: block i of D gets
  // layer_decay^(D - i), the patch and position embeddings layer_decay^(D + 1), the neck 1.
  double layer_decay = 1.0;
  // true: no weight decay on norms, biases (every 1-D parameter), pos_embed and relative-position
  // tables. false (default): every parameter decays, as torch.optim does and the reference code
  // trains.
  bool weight_decay_exempt = false;

  ScheduleKind schedule = ScheduleKind::kConstant;
  // Linear warm-up from 0 to the scheduled lr over the first warmup_steps optimiser steps.
  int64_t warmup_steps = 0;
  int64_t step_size = 1000;  // kStep: optimiser steps between decays
  double gamma = 0.1;        // kStep: decay factor
  double min_lr = 0.0;       // kCosine: the lr at the last step

  double grad_clip = 0.0;  // max global L2 norm of the gradients; 0 = no clipping
  // Gradient accumulation: one optimiser step per this many loader batches (micro-batches),
  // with the gradient of their union (sample-weighted). An epoch's last group may be shorter.
  // Steps, the schedule, max_steps, warm-ups and the logs count optimiser steps.
  int64_t accumulate_steps = 1;

  // Exponential moving average of the trained parameters after each optimiser step (0 = off):
  // ema = d ema + (1 - d) p, with d = min(ema_decay, (1 + t) / (10 + t)) at update t when
  // ema_warmup (the TensorFlow / timm warm-up), else ema_decay.
  double ema_decay = 0.0;
  bool ema_warmup = true;

  // Activation checkpointing (models::ActivationCheckpointing) of the parts named here:
  // kActivationCheckpointParts. The image encoder's blocks i with i % stride == 0.
  std::vector<std::string> activation_checkpointing;
  int64_t activation_checkpointing_stride = 1;

  int64_t epochs = 10;
  int64_t max_steps = 0;  // > 0: stop after this many optimiser steps (before `epochs` ends)

  int64_t val_every_epochs = 1;  // 0 = no validation
  // Validation also runs the evaluator (GED, HM-IoU, DSC, IoU, ... as val/<name>, with the
  // eval: section's options) besides the val loss terms.
  bool val_metrics = true;
  std::string best_metric = "val/loss";
  MetricMode best_mode = MetricMode::kMin;
  int64_t early_stop_patience = 0;  // validations without improvement before stopping; 0 = off

  int64_t log_every_steps = 10;
  int64_t checkpoint_every_epochs = 1;  // last.pt is written at every epoch end regardless
  // last.pt also inside an epoch, every N optimiser steps and/or when this many minutes have
  // passed since it was last written (0 = off): a killed or preempted job loses at most that much.
  int64_t checkpoint_every_steps = 0;
  double checkpoint_every_minutes = 0;
  int64_t keep_epoch_checkpoints = 0;   // epoch_NNN.pt files kept (the newest); 0 = none written
  int64_t max_nonfinite_steps = 5;      // more non-finite steps in a row stop the run

  bool embedding_cache = true;        // cache image embeddings when the encoder is frozen
  std::string embedding_cache_dir;    // empty: <run.out_dir>/.embedding_cache
  bool tensorboard = false;           // also write TensorBoard scalars to <run>/tb

  void validate() const;  // psam::Error naming the first invalid field
};

}  // namespace psam::train
