// Masks as contiguous CPU uint8 in {0, 1} (non-zero = inside), without a copy when they already
// are: stores and generators hand over such masks, and large temporaries are what make bulk
// writing slow.
#pragma once

#include <ATen/core/Tensor.h>

namespace psam::data {

at::Tensor binary_bytes(const at::Tensor& masks);

}  // namespace psam::data
