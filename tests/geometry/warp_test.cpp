// Resampling through a warp, the Gaussian blur and the elastic displacement field.
#include "psam/geometry/warp.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>

namespace psam::geometry {
namespace {

TEST(Warp, ShiftByHalfAPixelAveragesNeighboursAndFillsOutside) {
  const int64_t h = 3, w = 4;
  std::vector<float> src(h * w);
  std::iota(src.begin(), src.end(), 0.0f);
  const Warp warp{h, w, Affine::translation(0.5, 0), {}, {}};
  std::vector<float> dst(h * w);
  warp_bilinear(warp, src.data(), dst.data(), -1.0f);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x + 1 < w; ++x) EXPECT_FLOAT_EQ(dst[y * w + x], src[y * w + x] + 0.5f);
    // Half of the last sample lies outside: half the fill value.
    EXPECT_FLOAT_EQ(dst[y * w + w - 1], 0.5f * src[y * w + w - 1] + 0.5f * -1.0f);
  }
  std::vector<uint8_t> m(h * w, 1), mout(h * w);
  const Warp far{h, w, Affine::translation(10, 0), {}, {}};
  warp_nearest(far, m.data(), mout.data());
  for (uint8_t v : mout) EXPECT_EQ(v, 0);
}

TEST(Warp, DisplacementIsAddedBeforeTheMap) {
  const int64_t h = 2, w = 3;
  Warp warp{h, w, Affine::translation(1, 0), std::vector<float>(h * w, -1.0f),
            std::vector<float>(h * w, 0.0f)};
  std::vector<uint8_t> m = {1, 2, 3, 4, 5, 6}, out(h * w);
  warp_nearest(warp, m.data(), out.data());
  EXPECT_EQ(out, m);  // -1 then +1: the identity
}

TEST(GaussianBlur, KeepsConstantsAndMassAndMatchesTheKernel) {
  const int64_t h = 21, w = 17;
  std::vector<float> flat(h * w, 0.25f);
  gaussian_blur(flat.data(), h, w, 1.5);
  for (float v : flat) EXPECT_NEAR(v, 0.25f, 1e-6);
  std::vector<float> delta(h * w, 0.0f);
  delta[10 * w + 8] = 1.0f;
  gaussian_blur(delta.data(), h, w, 1.0);
  EXPECT_NEAR(std::accumulate(delta.begin(), delta.end(), 0.0), 1.0, 1e-5);
  // The normalised sampled Gaussian: the neighbour one pixel right / centre = exp(-1/2).
  EXPECT_NEAR(delta[10 * w + 9] / delta[10 * w + 8], std::exp(-0.5), 1e-5);
  EXPECT_NEAR(delta[11 * w + 9] / delta[10 * w + 8], std::exp(-1.0), 1e-5);
}

TEST(SmoothField, HasTheRequestedMagnitude) {
  const int64_t h = 40, w = 30;
  torch::manual_seed(0);
  const at::Tensor noise = torch::randn({h * w});
  std::vector<float> v(noise.data_ptr<float>(), noise.data_ptr<float>() + h * w);
  const auto field = smooth_field(v, h, w, 3.0, 2.5);
  double sq = 0;
  for (float f : field) sq += f * f;
  EXPECT_NEAR(std::sqrt(sq / (h * w)), 2.5, 1e-4);
  // Smooth: neighbours differ much less than the values themselves.
  double diff = 0;
  for (int64_t q = 0; q + 1 < h * w; ++q) diff += std::abs(field[q + 1] - field[q]);
  EXPECT_LT(diff / (h * w), 1.0);  // white noise of that magnitude: about 2.8
}

}  // namespace
}  // namespace psam::geometry
