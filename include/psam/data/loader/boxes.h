// Box prompts from masks, as the reference Probabilistic SAM derives them: the tight box of the
// mask's pixels (> 0.5) as (x_min, y_min, x_max, y_max) in pixel indices, max inclusive; an
// empty mask gets the centred box covering the middle half (W/4, H/4, 3W/4, 3H/4).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

#include "psam/util/names.h"

namespace psam::data {

struct Box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// mask: h*w bytes, row-major, non-zero = inside.
Box box_from_mask(const uint8_t* mask, int64_t h, int64_t w);

// masks [B,1,H,W] or [B,H,W], any real or integer dtype -> float [B,4].
at::Tensor boxes_from_masks(const at::Tensor& masks);

// Training augmentation: each side moves by u[i] * fraction * (box side length), u in [-1, 1]
// (x0, y0, x1, y1 order), then the box is clamped to the image and kept non-inverted.
Box jitter_box(const Box& box, const std::array<double, 4>& u, double fraction, int64_t h,
               int64_t w);

// Which mask the prompt box is taken from. The default for evaluation is the union of the
// annotators, so the prompt does not favour one of them.
enum class PromptSource {
  kUnion,      // pixels any annotator marked
  kMajority,   // pixels a strict majority (> K/2) marked; the union where no pixel has one
  kAnnotator,  // the annotator the sample was drawn for (the reference's training rule)
};
inline constexpr NameTable<PromptSource, 3> kPromptSourceNames = {{
    {PromptSource::kUnion, "union"},
    {PromptSource::kMajority, "majority"},
    {PromptSource::kAnnotator, "annotator"},
}};
constexpr const auto& enum_names(PromptSource) { return kPromptSourceNames; }
PromptSource prompt_source_from_string(const std::string& name);  // union | majority | annotator
std::string to_string(PromptSource source);

// masks: k*h*w bytes ([K,H,W] row-major, non-zero = inside); out: h*w bytes of 0/1.
// kAnnotator copies masks[annotator].
void prompt_mask(const uint8_t* masks, int64_t k, int64_t h, int64_t w, PromptSource source,
                 int64_t annotator, uint8_t* out);

}  // namespace psam::data
