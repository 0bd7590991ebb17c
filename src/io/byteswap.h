// Reverses the bytes of every element of a contiguous CPU tensor in place: big-endian file data
// (numpy '>' arrays) to the machine's little-endian order.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>

namespace psam::io {

inline void byteswap_inplace(at::Tensor& t) {
  const size_t item = t.element_size();
  auto* p = static_cast<uint8_t*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i, p += item) std::reverse(p, p + item);
}

}  // namespace psam::io
