#include "data/mask_bytes.h"

#include <torch/torch.h>

namespace psam::data {

at::Tensor binary_bytes(const at::Tensor& masks) {
  if (masks.scalar_type() == at::kByte && masks.device().is_cpu()) {
    const at::Tensor bytes = masks.contiguous();
    const uint8_t* p = bytes.data_ptr<uint8_t>();
    uint8_t above_one = 0;
    for (int64_t q = 0, n = bytes.numel(); q < n; ++q) above_one |= p[q] & 0xFE;
    if (above_one == 0) return bytes;
  }
  return masks.to(torch::kCPU).ne(0).to(torch::kByte).contiguous();
}

}  // namespace psam::data
