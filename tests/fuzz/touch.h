// Reads every byte of decoded tensors, so a tensor whose view reaches past its storage or its
// mapped file shows up as a crash (or an ASan report) in the fuzzer instead of going unnoticed.
#pragma once

#include <ATen/ATen.h>

#include "psam/io/tensor_dict.h"
#include "psam/util/crc32c.h"

namespace psam::fuzz {

inline uint32_t touch(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return c.nbytes() > 0 ? crc32c(c.data_ptr(), c.nbytes()) : 0;
}

inline uint32_t touch(const io::TensorDict& tensors) {
  uint32_t sum = 0;
  for (const auto& [name, t] : tensors) sum ^= touch(t) ^ crc32c(name.data(), name.size());
  return sum;
}

}  // namespace psam::fuzz
