#include "io/image_header.h"

#include <cstdlib>

namespace psam::io {
namespace {

uint32_t be(std::string_view b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

uint32_t le(std::string_view b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

std::optional<ImageHeader> png(std::string_view b) {
  // The signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
  if (b.size() < 24 || b.substr(12, 4) != "IHDR") return std::nullopt;
  return ImageHeader{"PNG", be(b, 16, 4), be(b, 20, 4)};
}

std::optional<ImageHeader> jpeg(std::string_view b) {
  // Segments after SOI until the first start-of-frame, which holds height and width.
  size_t at = 2;
  while (at + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[at]) != 0xFF) return std::nullopt;
    const uint8_t marker = static_cast<uint8_t>(b[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length field
      at += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // EOI or scan before a frame
    const uint32_t length = be(b, at + 2, 2);
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                       marker != 0xCC;
    if (frame) {
      if (at + 9 > b.size()) return std::nullopt;
      return ImageHeader{"JPEG", be(b, at + 7, 2), be(b, at + 5, 2)};
    }
    if (length < 2) return std::nullopt;
    at += 2 + length;
  }
  return std::nullopt;
}

std::optional<ImageHeader> bmp(std::string_view b) {
  if (b.size() < 26) return std::nullopt;
  if (le(b, 14, 4) == 12)  // BITMAPCOREHEADER: 16-bit sizes
    return ImageHeader{"BMP", le(b, 18, 2), le(b, 20, 2)};
  // Later headers: signed 32-bit sizes; a negative height means top-down rows.
  const auto width = static_cast<int32_t>(le(b, 18, 4));
  const auto height = static_cast<int32_t>(le(b, 22, 4));
  return ImageHeader{"BMP", width, std::llabs(static_cast<int64_t>(height))};
}

std::optional<ImageHeader> tiff(std::string_view b) {
  // The first image file directory's ImageWidth (256) and ImageLength (257) entries.
  const bool little = b[0] == 'I';
  const auto get = [&](size_t at, int n) { return little ? le(b, at, n) : be(b, at, n); };
  const size_t ifd = get(4, 4);
  if (ifd + 2 > b.size()) return std::nullopt;
  const uint32_t entries = get(ifd, 2);
  int64_t width = -1, height = -1;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
    if (e + 12 > b.size()) return std::nullopt;
    const uint32_t tag = get(e, 2), type = get(e + 2, 2);
    if (tag != 256 && tag != 257) continue;
    if (type != 3 && type != 4) return std::nullopt;  // SHORT or LONG
    (tag == 256 ? width : height) = type == 3 ? get(e + 8, 2) : get(e + 8, 4);
  }
  if (width < 0 || height < 0) return std::nullopt;
  return ImageHeader{"TIFF", width, height};
}

}  // namespace

std::optional<ImageHeader> read_image_header(std::string_view b) {
  if (b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return png(b);
  if (b.size() >= 3 && b.substr(0, 3) == "\xFF\xD8\xFF") return jpeg(b);
  if (b.size() >= 2 && b.substr(0, 2) == "BM") return bmp(b);
  if (b.size() >= 8 && (b.substr(0, 4) == std::string_view("II*\0", 4) ||
                        b.substr(0, 4) == std::string_view("MM\0*", 4)))
    return tiff(b);
  return std::nullopt;
}

}  // namespace psam::io
