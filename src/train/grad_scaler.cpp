#include "psam/train/grad_scaler.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "psam/util/error.h"

namespace psam::train {

GradScaler::GradScaler(GradScalerOptions options)
    : options_(options), scale_(options.init_scale) {
  PSAM_CHECK(options_.init_scale > 0 && std::isfinite(options_.init_scale),
             "gradient scaler: the initial scale must be positive");
  PSAM_CHECK(options_.growth_factor > 1 && options_.backoff_factor > 0 &&
                 options_.backoff_factor < 1 && options_.growth_interval > 0,
             "gradient scaler: growth factor > 1, backoff factor in (0, 1), interval > 0");
}

bool GradScaler::unscale(const NamedParameters& parameters) const {
  at::NoGradGuard no_grad;
  const double inverse = 1.0 / scale_;
  // One flag on the gradients' device, read once: no device sync per parameter.
  at::Tensor finite;
  for (const auto& [name, p] : parameters) {
    if (!p.grad().defined()) continue;
    at::Tensor grad = p.grad();
    grad.mul_(inverse);
    const at::Tensor all = grad.isfinite().all();
    finite = finite.defined() ? finite.logical_and(all) : all;
  }
  return !finite.defined() || finite.item<bool>();
}

void GradScaler::update(bool overflow) {
  if (overflow) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  if (++growth_tracker_ == options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
}

void GradScaler::load(double scale, int64_t growth_tracker) {
  PSAM_CHECK(scale > 0 && std::isfinite(scale),
             fmt::format("gradient scaler: a checkpointed scale of {}", scale));
  scale_ = scale;
  growth_tracker_ = growth_tracker;
}

}  // namespace psam::train
