// Labels on psam's figures (samples.png, the compare grid) without a font library: a 5 x 7 pixel
// font of the capitals, digits and - _ . = ( ) /, other characters drawn as '?'.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace psam::eval {

inline constexpr int64_t kGlyphWidth = 5, kGlyphHeight = 7;
inline constexpr int64_t kLabelStripHeight = 2 * kGlyphHeight + 6;  // at scale 2, 3 px margins

// Ink of `text` (upper-cased) at `scale`: float [7 scale, (6 len - 1) scale], 1 where drawn.
at::Tensor render_text(const std::string& text, int64_t scale);

// A white strip float [3, kLabelStripHeight, width] with `text` in black, starting 4 px from the
// left (or centred); text that does not fit is cut at the strip's right edge.
at::Tensor label_strip(const std::string& text, int64_t width, bool centred = false);

}  // namespace psam::eval
