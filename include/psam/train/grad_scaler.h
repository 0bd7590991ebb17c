// Dynamic loss scaling for fp16 training, with torch.cuda.amp.GradScaler's rule: the loss is
// multiplied by the scale before backward, the gradients divided by it before clipping and the
// step; a step whose gradients overflow (inf or NaN after unscaling) is skipped and the scale
// halves, and growth_interval finite steps in a row double it. Scales are powers of two, so
// scaling and unscaling change no gradient that neither overflows nor underflows.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "psam/train/param_groups.h"

namespace psam::train {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16, as PyTorch
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  double scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  at::Tensor scale_loss(const at::Tensor& loss) const { return loss * scale_; }
  // Divides every gradient by the scale; false when one is not finite (an overflow).
  bool unscale(const NamedParameters& parameters) const;
  // After an optimiser step (overflow false) or a step skipped for an overflow.
  void update(bool overflow);

  // Checkpoint state; psam::Error for a scale that is not positive and finite.
  void load(double scale, int64_t growth_tracker);

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace psam::train
