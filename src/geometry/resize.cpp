#include "psam/geometry/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace psam::geometry {
namespace {

// Source taps and weights of one output coordinate, computed in float as torch does.
struct Taps {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Taps> linear_taps(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<Taps> taps(out);
  for (int64_t d = 0; d < out; ++d) {
    const float src = std::max(scale * (static_cast<float>(d) + 0.5f) - 0.5f, 0.0f);
    const int64_t i0 = static_cast<int64_t>(src);
    const float w1 = src - static_cast<float>(i0);
    taps[d] = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - w1, w1};
  }
  return taps;
}

std::vector<int64_t> nearest_taps(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<int64_t> taps(out);
  for (int64_t d = 0; d < out; ++d)
    taps[d] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(d) * scale)), in - 1);
  return taps;
}

}  // namespace

void resize_bilinear(const float* src, int64_t h, int64_t w, float* dst, int64_t oh, int64_t ow,
                     int64_t dst_stride) {
  const std::vector<Taps> ty = linear_taps(h, oh), tx = linear_taps(w, ow);
  // Horizontal pass of the two source rows an output row needs, cached across output rows.
  std::vector<float> row0(ow), row1(ow);
  int64_t cached0 = -1, cached1 = -1;
  auto horizontal = [&](int64_t y, std::vector<float>& out) {
    const float* s = src + y * w;
    for (int64_t x = 0; x < ow; ++x) out[x] = tx[x].w0 * s[tx[x].i0] + tx[x].w1 * s[tx[x].i1];
  };
  for (int64_t y = 0; y < oh; ++y) {
    const Taps& t = ty[y];
    if (cached0 != t.i0) {
      if (cached1 == t.i0) {
        std::swap(row0, row1);
        std::swap(cached0, cached1);
      } else {
        horizontal(t.i0, row0);
        cached0 = t.i0;
      }
    }
    if (cached1 != t.i1) {
      horizontal(t.i1, row1);
      cached1 = t.i1;
    }
    float* d = dst + y * dst_stride;
    for (int64_t x = 0; x < ow; ++x) d[x] = t.w0 * row0[x] + t.w1 * row1[x];
  }
}

void resize_nearest(const uint8_t* src, int64_t h, int64_t w, uint8_t* dst, int64_t oh, int64_t ow,
                    int64_t dst_stride) {
  const std::vector<int64_t> ty = nearest_taps(h, oh), tx = nearest_taps(w, ow);
  for (int64_t y = 0; y < oh; ++y) {
    const uint8_t* s = src + ty[y] * w;
    uint8_t* d = dst + y * dst_stride;
    for (int64_t x = 0; x < ow; ++x) d[x] = s[tx[x]];
  }
}

}  // namespace psam::geometry
