#include "psam/data/loader/boxes.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "psam/util/error.h"

namespace psam::data {

Box box_from_mask(const uint8_t* mask, int64_t h, int64_t w) {
  int64_t x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = mask + y * w;
    int64_t first = -1, last = -1;
    for (int64_t x = 0; x < w; ++x) {
      if (row[x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    x0 = std::min(x0, first);
    x1 = std::max(x1, last);
    y0 = std::min(y0, y);
    y1 = y;
  }
  if (x1 < 0) {
    return {static_cast<float>(w) / 4, static_cast<float>(h) / 4, static_cast<float>(w) * 3 / 4,
            static_cast<float>(h) * 3 / 4};
  }
  return {static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1),
          static_cast<float>(y1)};
}

at::Tensor boxes_from_masks(const at::Tensor& masks) {
  PSAM_CHECK(masks.dim() == 3 || (masks.dim() == 4 && masks.size(1) == 1),
             "boxes_from_masks: expected masks [B,1,H,W] or [B,H,W], got " +
                 std::to_string(masks.dim()) + " dimensions");
  const int64_t b = masks.size(0), h = masks.size(-2), w = masks.size(-1);
  const at::Tensor inside = masks.is_floating_point() ? masks.gt(0.5) : masks.ne(0);
  const at::Tensor bytes = inside.to(torch::kCPU, torch::kUInt8).reshape({b, h, w}).contiguous();
  at::Tensor out = torch::empty({b, 4}, torch::kFloat);
  auto acc = out.accessor<float, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const Box box = box_from_mask(bytes[i].data_ptr<uint8_t>(), h, w);
    acc[i][0] = box.x0;
    acc[i][1] = box.y0;
    acc[i][2] = box.x1;
    acc[i][3] = box.y1;
  }
  return out.to(masks.device());
}

Box jitter_box(const Box& box, const std::array<double, 4>& u, double fraction, int64_t h,
               int64_t w) {
  const double bw = box.x1 - box.x0 + 1, bh = box.y1 - box.y0 + 1;
  const double xmax = static_cast<double>(w - 1), ymax = static_cast<double>(h - 1);
  auto moved = [&](double v, double side, double ui, double hi) {
    return std::clamp(v + ui * fraction * side, 0.0, hi);
  };
  Box out;
  out.x0 = static_cast<float>(moved(box.x0, bw, u[0], xmax));
  out.y0 = static_cast<float>(moved(box.y0, bh, u[1], ymax));
  out.x1 = static_cast<float>(moved(box.x1, bw, u[2], xmax));
  out.y1 = static_cast<float>(moved(box.y1, bh, u[3], ymax));
  if (out.x1 < out.x0) std::swap(out.x0, out.x1);
  if (out.y1 < out.y0) std::swap(out.y0, out.y1);
  return out;
}

PromptSource prompt_source_from_string(const std::string& name) {
  return value_of<PromptSource>(name, "prompt source");
}

std::string to_string(PromptSource source) { return name_of(source); }

void prompt_mask(const uint8_t* masks, int64_t k, int64_t h, int64_t w, PromptSource source,
                 int64_t annotator, uint8_t* out) {
  const int64_t n = h * w;
  if (source == PromptSource::kAnnotator) {
    PSAM_CHECK(annotator >= 0 && annotator < k,
               "prompt source 'annotator' needs an annotator in [0, " + std::to_string(k) +
                   "), got " + std::to_string(annotator));
    for (int64_t p = 0; p < n; ++p) out[p] = masks[annotator * n + p] != 0;
    return;
  }
  bool any_majority = false;
  for (int64_t p = 0; p < n; ++p) {
    int64_t votes = 0;
    for (int64_t a = 0; a < k; ++a) votes += masks[a * n + p] != 0;
    const bool keep = source == PromptSource::kUnion ? votes > 0 : 2 * votes > k;
    out[p] = keep;
    any_majority |= keep;
  }
  if (source == PromptSource::kMajority && !any_majority)
    prompt_mask(masks, k, h, w, PromptSource::kUnion, annotator, out);
}

}  // namespace psam::data
