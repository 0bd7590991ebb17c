// Resizes images so the longest side is target_length, and moves point/box coordinates with
// them (official utils/transforms.py ResizeLongestSide, torch variant: antialiased bilinear).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>

namespace psam::geometry {

class ResizeLongestSide {
 public:
  explicit ResizeLongestSide(int64_t target_length) : target_length_(target_length) {}

  // (new_h, new_w): the longest side scaled to long_side_length, each side rounded half up.
  static std::array<int64_t, 2> get_preprocess_shape(int64_t old_h, int64_t old_w,
                                                     int64_t long_side_length);
  // (x, y) factors taking pixel coordinates of an image of original_size (H, W) into the
  // resized image: new_w / old_w and new_h / old_h of get_preprocess_shape (each side rounds on
  // its own, so they differ slightly for non-square images). Every coordinate mapping uses them.
  static std::array<double, 2> coord_scale(std::array<int64_t, 2> original_size,
                                           int64_t long_side_length);

  // [B,C,H,W] (any real dtype) -> float [B,C,h,w], antialiased bilinear (as apply_image_torch).
  at::Tensor apply_image(const at::Tensor& image) const;
  // coords [...,2] (x, y) in pixels of an image of original_size (H, W) -> the resized frame.
  at::Tensor apply_coords(const at::Tensor& coords, std::array<int64_t, 2> original_size) const;
  // boxes [...,4] (x0, y0, x1, y1) -> the resized frame.
  at::Tensor apply_boxes(const at::Tensor& boxes, std::array<int64_t, 2> original_size) const;

  int64_t target_length() const { return target_length_; }

 private:
  int64_t target_length_;
};

}  // namespace psam::geometry
