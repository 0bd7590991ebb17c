#include "psam/train/train_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "psam/util/error.h"

namespace psam::train {

void TrainConfig::validate() const {
  PSAM_CHECK(lr > 0, fmt::format("train.lr must be > 0, got {}", lr));
  PSAM_CHECK(weight_decay >= 0, fmt::format("train.weight_decay must be >= 0, got {}", weight_decay));
  PSAM_CHECK(betas.size() == 2 && betas[0] >= 0 && betas[0] < 1 && betas[1] >= 0 && betas[1] < 1,
             "train.betas must be two numbers in [0, 1)");
  PSAM_CHECK(momentum >= 0 && momentum < 1,
             fmt::format("train.momentum must be in [0, 1), got {}", momentum));
  for (const auto& [part, mult] : lr_mult) {
    PSAM_CHECK(mult >= 0, fmt::format("train.lr_mult.{} must be >= 0, got {}", part, mult));
  }
  PSAM_CHECK(layer_decay > 0 && layer_decay <= 1,
             fmt::format("train.layer_decay must be in (0, 1] (1 = off), got {}", layer_decay));
  PSAM_CHECK(eps > 0, fmt::format("train.eps must be > 0, got {}", eps));
  PSAM_CHECK(warmup_steps >= 0, "train.warmup_steps must be >= 0");
  PSAM_CHECK(step_size > 0, fmt::format("train.step_size must be > 0, got {}", step_size));
  PSAM_CHECK(gamma > 0, fmt::format("train.gamma must be > 0, got {}", gamma));
  PSAM_CHECK(min_lr >= 0 && min_lr <= lr,
             fmt::format("train.min_lr must be in [0, train.lr], got {}", min_lr));
  PSAM_CHECK(grad_clip >= 0, "train.grad_clip must be >= 0 (0 = off)");
  PSAM_CHECK(accumulate_steps >= 1,
             fmt::format("train.accumulate_steps must be >= 1, got {}", accumulate_steps));
  for (const std::string& part : activation_checkpointing) {
    PSAM_CHECK(std::find(kActivationCheckpointParts.begin(), kActivationCheckpointParts.end(),
                         part) != kActivationCheckpointParts.end(),
               fmt::format("train.activation_checkpointing: unknown part '{}' (parts: {})", part,
                           fmt::join(kActivationCheckpointParts, ", ")));
  }
  PSAM_CHECK(activation_checkpointing_stride >= 1,
             fmt::format("train.activation_checkpointing_stride must be >= 1, got {}",
                         activation_checkpointing_stride));
  PSAM_CHECK(ema_decay >= 0 && ema_decay < 1,
             fmt::format("train.ema_decay must be in [0, 1) (0 = off), got {}", ema_decay));
  PSAM_CHECK(epochs > 0, fmt::format("train.epochs must be > 0, got {}", epochs));
  PSAM_CHECK(max_steps >= 0, "train.max_steps must be >= 0 (0 = by epochs)");
  PSAM_CHECK(val_every_epochs >= 0, "train.val_every_epochs must be >= 0 (0 = never)");
  PSAM_CHECK(!best_metric.empty(), "train.best_metric must name a metric, e.g. val/loss");
  PSAM_CHECK(early_stop_patience >= 0, "train.early_stop_patience must be >= 0 (0 = off)");
  PSAM_CHECK(log_every_steps > 0, "train.log_every_steps must be > 0");
  PSAM_CHECK(checkpoint_every_epochs > 0, "train.checkpoint_every_epochs must be > 0");
  PSAM_CHECK(checkpoint_every_steps >= 0, "train.checkpoint_every_steps must be >= 0 (0 = off)");
  PSAM_CHECK(checkpoint_every_minutes >= 0,
             "train.checkpoint_every_minutes must be >= 0 (0 = off)");
  PSAM_CHECK(keep_epoch_checkpoints >= 0, "train.keep_epoch_checkpoints must be >= 0");
  PSAM_CHECK(max_nonfinite_steps >= 0, "train.max_nonfinite_steps must be >= 0");
}

}  // namespace psam::train
