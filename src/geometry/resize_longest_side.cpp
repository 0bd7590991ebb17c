#include "psam/geometry/resize_longest_side.h"

#include <algorithm>

#include <fmt/ostream.h>

#include "psam/util/error.h"

namespace psam::geometry {

std::array<int64_t, 2> ResizeLongestSide::get_preprocess_shape(int64_t old_h, int64_t old_w,
                                                               int64_t long_side_length) {
  const double scale = static_cast<double>(long_side_length) / std::max(old_h, old_w);
  return {static_cast<int64_t>(old_h * scale + 0.5), static_cast<int64_t>(old_w * scale + 0.5)};
}

std::array<double, 2> ResizeLongestSide::coord_scale(std::array<int64_t, 2> original_size,
                                                     int64_t long_side_length) {
  const auto [old_h, old_w] = original_size;
  const auto [new_h, new_w] = get_preprocess_shape(old_h, old_w, long_side_length);
  return {static_cast<double>(new_w) / old_w, static_cast<double>(new_h) / old_h};
}

at::Tensor ResizeLongestSide::apply_image(const at::Tensor& image) const {
  namespace F = torch::nn::functional;
  PSAM_CHECK(image.dim() == 4 && image.size(2) > 0 && image.size(3) > 0,
             fmt::format("ResizeLongestSide: expected an image batch [B,C,H,W], got {}",
                         fmt::streamed(image.sizes())));
  const auto [h, w] = get_preprocess_shape(image.size(2), image.size(3), target_length_);
  const auto input = image.is_floating_point() ? image : image.to(torch::kFloat);
  return F::interpolate(input, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{h, w})
                                   .mode(torch::kBilinear)
                                   .align_corners(false)
                                   .antialias(true));
}

at::Tensor ResizeLongestSide::apply_coords(const at::Tensor& coords,
                                           std::array<int64_t, 2> original_size) const {
  PSAM_CHECK(coords.dim() >= 1 && coords.size(-1) == 2,
             fmt::format("ResizeLongestSide: coordinates must be [...,2], got {}",
                         fmt::streamed(coords.sizes())));
  const auto [sx, sy] = coord_scale(original_size, target_length_);
  // In double, as the official numpy path, then back to the caller's float type.
  const auto c = coords.to(torch::kDouble);
  const auto x = c.select(-1, 0) * sx;
  const auto y = c.select(-1, 1) * sy;
  const auto out_type = coords.is_floating_point() ? coords.scalar_type() : torch::kFloat;
  return torch::stack({x, y}, -1).to(out_type);
}

at::Tensor ResizeLongestSide::apply_boxes(const at::Tensor& boxes,
                                          std::array<int64_t, 2> original_size) const {
  PSAM_CHECK(boxes.dim() >= 1 && boxes.size(-1) == 4,
             fmt::format("ResizeLongestSide: boxes must be [...,4], got {}",
                         fmt::streamed(boxes.sizes())));
  auto shape = boxes.sizes().vec();
  return apply_coords(boxes.reshape({-1, 2, 2}), original_size).reshape(shape);
}

}  // namespace psam::geometry
