#include "psam/sam/dropout.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <utility>

#include "psam/util/device.h"
#include "psam/util/error.h"

namespace psam::sam {
namespace {

void check_rate(double rate) {
  PSAM_CHECK(rate >= 0 && rate < 1, fmt::format("dropout rate must lie in [0, 1), got {}", rate));
}

}  // namespace

Dropout::Dropout(double rate, c10::optional<at::Generator> generator)
    : rate_(rate), generator_(generator) {
  check_rate(rate);
  masks_ = [rate, generator](at::IntArrayRef shape, const at::TensorOptions& options) {
    check_generator(generator, options.device(), "dropout");
    return at::empty(shape, options).bernoulli_(1.0 - rate, generator);
  };
}

Dropout::Dropout(double rate, KeepMasks masks) : rate_(rate), masks_(std::move(masks)) {
  check_rate(rate);
  PSAM_CHECK(static_cast<bool>(masks_), "dropout: no keep-mask source");
}

at::Tensor Dropout::operator()(const at::Tensor& x) const {
  if (rate_ == 0) return x;
  const at::Tensor keep = masks_(x.sizes(), x.options());
  PSAM_CHECK(keep.sizes() == x.sizes(),
             fmt::format("dropout: a keep mask of shape {} for an input of shape {}",
                         fmt::streamed(keep.sizes()), fmt::streamed(x.sizes())));
  return x * keep * (1.0 / (1.0 - rate_));
}

}  // namespace psam::sam
