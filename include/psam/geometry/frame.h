// SAM's input frame and the way back from it. The frame is S x S: the image resized so its
// longest side is S (ResizeLongestSide) and zero-padded at the bottom/right. Mask logits go back
// the official way (Sam.postprocess_masks): upsampled to the frame, cropped to the resized image,
// resized to the image. One rule for every method and command.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>

namespace psam::geometry {

// Logits [B,M,h,w] -> [B,M,H,W], bilinear with align_corners = false (the official and the
// reference rule); returned as is when already that size. The one resampling of logits: the
// steps of frame_to_image and the training logits at the target's frame size use it.
torch::Tensor resize_logits(const torch::Tensor& logits, std::array<int64_t, 2> size);

// Logits [B,M,h,w] covering the img_size x img_size frame -> [B,M,H,W] at original_size: upsampled
// to the frame, cropped to input_size (the resized image without its padding), resized to
// original_size (H, W).
torch::Tensor crop_frame_to_image(const torch::Tensor& masks, int64_t img_size,
                                  std::array<int64_t, 2> input_size,
                                  std::array<int64_t, 2> original_size);

// The frame side for images whose longest side is `longest`: rounded to the nearest whole
// number of patches (at least one), at most `max_side` rounded down to whole patches.
int64_t frame_side_for(int64_t longest, int64_t patch_size, int64_t max_side);

// crop_frame_to_image with input_size = ResizeLongestSide of original_size to img_size.
torch::Tensor frame_to_image(const torch::Tensor& masks, int64_t img_size,
                             std::array<int64_t, 2> original_size);

}  // namespace psam::geometry
