// The pixel size an image file declares in its header, read before decoding so that a file
// claiming gigapixels is refused without allocating them (OpenCV's own limit is 2^30 pixels).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace psam::io {

struct ImageHeader {
  const char* format;  // "PNG", "JPEG", "BMP" or "TIFF"
  int64_t width = 0;
  int64_t height = 0;
};

// nullopt when the bytes are none of those four formats or their header ends before the size.
std::optional<ImageHeader> read_image_header(std::string_view bytes);

}  // namespace psam::io
