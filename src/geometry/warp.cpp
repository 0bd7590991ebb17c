#include "psam/geometry/warp.h"

#include <algorithm>
#include <cmath>

#include "psam/util/error.h"

namespace psam::geometry {

std::array<double, 2> Warp::source(int64_t x, int64_t y) const {
  if (dx.empty()) return map(static_cast<double>(x), static_cast<double>(y));
  const int64_t q = y * w + x;
  return map(x + static_cast<double>(dx[q]), y + static_cast<double>(dy[q]));
}

void warp_bilinear(const Warp& warp, const float* src, float* dst, float fill) {
  const int64_t h = warp.h, w = warp.w;
  auto at = [&](int64_t x, int64_t y) {
    return x >= 0 && x < w && y >= 0 && y < h ? src[y * w + x] : fill;
  };
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const auto [sx, sy] = warp.source(x, y);
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      if (fx0 < -1 || fy0 < -1 || fx0 > w || fy0 > h) {
        dst[y * w + x] = fill;
        continue;
      }
      const auto x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
      const auto ax = static_cast<float>(sx - fx0), ay = static_cast<float>(sy - fy0);
      // A zero weight never reads its neighbour, so pixel-centre maps copy values exactly.
      const float top = ax == 0 ? at(x0, y0) : (1 - ax) * at(x0, y0) + ax * at(x0 + 1, y0);
      const float bottom =
          ay == 0
              ? 0.0f
              : (ax == 0 ? at(x0, y0 + 1) : (1 - ax) * at(x0, y0 + 1) + ax * at(x0 + 1, y0 + 1));
      dst[y * w + x] = ay == 0 ? top : (1 - ay) * top + ay * bottom;
    }
  }
}

void warp_nearest(const Warp& warp, const uint8_t* src, uint8_t* dst) {
  const int64_t h = warp.h, w = warp.w;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const auto [sx, sy] = warp.source(x, y);
      const double rx = std::floor(sx + 0.5), ry = std::floor(sy + 0.5);
      const bool inside = rx >= 0 && rx < w && ry >= 0 && ry < h;
      dst[y * w + x] =
          inside ? src[static_cast<int64_t>(ry) * w + static_cast<int64_t>(rx)] : uint8_t{0};
    }
  }
}

void gaussian_blur(float* plane, int64_t h, int64_t w, double sigma) {
  PSAM_CHECK(sigma > 0, "gaussian_blur: sigma must be > 0");
  const auto r = static_cast<int64_t>(std::ceil(3 * sigma));
  std::vector<float> k(2 * r + 1);
  double total = 0;
  for (int64_t i = -r; i <= r; ++i)
    total += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (float& v : k) v = static_cast<float>(v / total);
  std::vector<float> line(std::max(h, w));
  for (int64_t y = 0; y < h; ++y) {  // rows
    float* row = plane + y * w;
    std::copy(row, row + w, line.begin());
    for (int64_t x = 0; x < w; ++x) {
      float s = 0;
      for (int64_t i = -r; i <= r; ++i) s += k[i + r] * line[std::clamp<int64_t>(x + i, 0, w - 1)];
      row[x] = s;
    }
  }
  for (int64_t x = 0; x < w; ++x) {  // columns
    for (int64_t y = 0; y < h; ++y) line[y] = plane[y * w + x];
    for (int64_t y = 0; y < h; ++y) {
      float s = 0;
      for (int64_t i = -r; i <= r; ++i) s += k[i + r] * line[std::clamp<int64_t>(y + i, 0, h - 1)];
      plane[y * w + x] = s;
    }
  }
}

std::vector<float> smooth_field(std::vector<float> noise, int64_t h, int64_t w, double sigma,
                                double magnitude) {
  PSAM_CHECK(static_cast<int64_t>(noise.size()) == h * w, "smooth_field: noise must be h * w");
  gaussian_blur(noise.data(), h, w, sigma);
  double sq = 0;
  for (float v : noise) sq += static_cast<double>(v) * v;
  const double rms = std::sqrt(sq / static_cast<double>(noise.size()));
  const auto scale = static_cast<float>(rms > 0 ? magnitude / rms : 0.0);
  for (float& v : noise) v *= scale;
  return noise;
}

}  // namespace psam::geometry
