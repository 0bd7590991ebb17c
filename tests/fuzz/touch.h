// Reads decoded tensors, so a tensor whose view reaches past its storage or its mapped file
// shows up as a crash (or an ASan report) in the fuzzer instead of going unnoticed. One byte per
// 64 and the last byte: an overrun always reaches the last byte, and reading every byte under
// the fuzzer's comparison tracing took over 30 s for a 100 MB image a 123-byte JPEG declares.
#pragma once

#include <ATen/ATen.h>

#include "psam/io/tensor_dict.h"
#include "psam/util/crc32c.h"

namespace psam::fuzz {

inline uint32_t touch(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
  const size_t n = c.nbytes();
  uint32_t sum = 0;
  for (size_t i = 0; i < n; i += 64) sum = sum * 31 + bytes[i];
  return n > 0 ? sum * 31 + bytes[n - 1] : 0;
}

inline uint32_t touch(const io::TensorDict& tensors) {
  uint32_t sum = 0;
  for (const auto& [name, t] : tensors) sum ^= touch(t) ^ crc32c(name.data(), name.size());
  return sum;
}

}  // namespace psam::fuzz
