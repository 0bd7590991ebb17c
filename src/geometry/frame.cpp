#include "psam/geometry/frame.h"

#include <torch/nn/functional/upsampling.h>

#include <fmt/format.h>
#include "psam/geometry/resize_longest_side.h"

#include "psam/util/error.h"

namespace psam::geometry {

torch::Tensor resize_logits(const torch::Tensor& logits, std::array<int64_t, 2> size) {
  namespace F = torch::nn::functional;
  if (logits.size(2) == size[0] && logits.size(3) == size[1]) return logits;
  return F::interpolate(logits, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{size[0], size[1]})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

torch::Tensor crop_frame_to_image(const torch::Tensor& masks, int64_t img_size,
                                  std::array<int64_t, 2> input_size,
                                  std::array<int64_t, 2> original_size) {
  PSAM_CHECK(masks.dim() == 4, "frame_to_image: expected logits [B,M,h,w]");
  auto up = resize_logits(masks, {img_size, img_size});
  up = up.slice(2, 0, input_size[0]).slice(3, 0, input_size[1]);
  return resize_logits(up, original_size);
}

torch::Tensor frame_to_image(const torch::Tensor& masks, int64_t img_size,
                             std::array<int64_t, 2> original_size) {
  const auto input_size =
      ResizeLongestSide::get_preprocess_shape(original_size[0], original_size[1], img_size);
  return crop_frame_to_image(masks, img_size, input_size, original_size);
}

int64_t frame_side_for(int64_t longest, int64_t patch_size, int64_t max_side) {
  PSAM_CHECK(longest > 0 && patch_size > 0, "frame_side_for: sizes must be positive");
  PSAM_CHECK(
      max_side >= patch_size,
      fmt::format("the largest frame ({} px) is below one patch ({} px)", max_side, patch_size));
  const int64_t patches = std::max<int64_t>(1, (longest + patch_size / 2) / patch_size);
  return std::min(patches, max_side / patch_size) * patch_size;
}

}  // namespace psam::geometry
