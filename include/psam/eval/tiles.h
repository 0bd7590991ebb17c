// Pieces of psam's figures (samples.png, the augmentation preview): float [3,H,W] tiles in
// [0, 1], enlarged, overlaid and joined with white gaps.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace psam::eval {

inline constexpr int64_t kMinTile = 96;  // px: small images are enlarged so masks stay visible
inline constexpr int64_t kTileGap = 2;   // px of white between tiles

// The integer factor that makes an image of this longest side at least kMinTile px.
int64_t tile_factor(int64_t longest_side);
// Each pixel repeated factor x factor times.
at::Tensor enlarge(const at::Tensor& tile, int64_t factor);
// Mask pixels of a [3,H,W] image in [0,1] blended with a colour.
at::Tensor overlay(const at::Tensor& image, const at::Tensor& mask, std::array<float, 3> rgb);
// Tiles [3,h,w] side by side (dim 2) or stacked (dim 1), with white gaps between them.
at::Tensor join(const std::vector<at::Tensor>& tiles, int64_t dim);
// float [3,H,W] in [0, 1] -> uint8 [H,W,3] for io::write_image.
at::Tensor to_rgb8(const at::Tensor& grid);

}  // namespace psam::eval
