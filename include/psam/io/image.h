// Image files through OpenCV (PNG, JPEG, ...). Built without OpenCV, these throw psam::Error
// saying so.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace psam::io {

// uint8 [H,W,3] RGB (grey files are replicated to 3 channels; 16-bit files are refused).
at::Tensor read_image_rgb(const std::string& path);
// uint8 [H,W] (grey) or [H,W,3] (RGB); atomic write, format from the extension.
void write_image(const std::string& path, const at::Tensor& image);

}  // namespace psam::io
