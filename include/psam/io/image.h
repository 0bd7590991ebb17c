// Image files through OpenCV. Built without OpenCV, these throw psam::Error saying so.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace psam::io {

// An image file as it is stored: [H,W,C] with C = 1 (grey) or 3 (RGB; an alpha channel is
// dropped; OpenCV decodes a grey + alpha PNG as RGBA, so it comes back RGB with equal channels).
// uint8 for 8-bit files, int32 holding the values 0..65535 for 16-bit files; other depths (float
// TIFF, ...) are refused naming the file. PNG, JPEG, BMP and TIFF files are read; their header
// must declare at most 2^26 pixels (8192 x 8192), checked before anything is decoded, so a
// hostile header cannot claim gigabytes.
at::Tensor read_image(const std::string& path);
// uint8 [H,W,3] RGB (grey files are replicated to 3 channels; 16-bit files are refused).
at::Tensor read_image_rgb(const std::string& path);
// uint8 [H,W] (grey) or [H,W,3] (RGB); atomic write, format from the extension.
void write_image(const std::string& path, const at::Tensor& image);

}  // namespace psam::io
