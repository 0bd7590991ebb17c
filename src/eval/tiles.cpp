#include "psam/eval/tiles.h"

#include <torch/torch.h>

namespace psam::eval {

int64_t tile_factor(int64_t longest_side) {
  return std::max<int64_t>(1, (kMinTile + longest_side - 1) / std::max<int64_t>(1, longest_side));
}

at::Tensor enlarge(const at::Tensor& tile, int64_t factor) {
  return factor == 1 ? tile : tile.repeat_interleave(factor, 1).repeat_interleave(factor, 2);
}

at::Tensor overlay(const at::Tensor& image, const at::Tensor& mask, std::array<float, 3> rgb) {
  const at::Tensor m = mask.to(torch::kFloat).unsqueeze(0) * 0.6;
  const at::Tensor colour = torch::tensor({rgb[0], rgb[1], rgb[2]}).view({3, 1, 1});
  return image * (1 - m) + colour * m;
}

at::Tensor join(const std::vector<at::Tensor>& tiles, int64_t dim) {
  std::vector<at::Tensor> parts;
  for (const auto& t : tiles) {
    if (!parts.empty()) {
      auto sizes = t.sizes().vec();
      sizes[dim] = kTileGap;
      parts.push_back(torch::ones(sizes));
    }
    parts.push_back(t);
  }
  return torch::cat(parts, dim);
}

at::Tensor to_rgb8(const at::Tensor& grid) {
  return (grid * 255).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
}

}  // namespace psam::eval
