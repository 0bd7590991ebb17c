// The grid symmetries: the affine map of each agrees with torch's flip / rot90, inverse() undoes
// it, on tall, wide and square images.
#include "psam/geometry/dihedral.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <vector>

#include "psam/geometry/warp.h"
#include "psam/util/error.h"

namespace psam::geometry {
namespace {

std::vector<Dihedral> all_symmetries(bool square) {
  std::vector<Dihedral> out;
  for (int fx = 0; fx < 2; ++fx)
    for (int fy = 0; fy < 2; ++fy)
      for (int64_t k = 0; k < 4; ++k)
        if (square || k % 2 == 0) out.push_back({fx == 1, fy == 1, k});
  return out;
}

constexpr std::array<std::array<int64_t, 2>, 3> kShapes = {{{7, 11}, {11, 7}, {9, 9}}};

TEST(Dihedral, InverseUndoesEveryElementOnEveryShape) {
  for (const auto& [h, w] : kShapes) {
    const at::Tensor x = torch::rand({2, h, w});
    for (const Dihedral& d : all_symmetries(true)) {
      const at::Tensor y = apply(d, x);
      EXPECT_TRUE(torch::equal(apply(inverse(d), y), x)) << to_string(d) << " " << h << "x" << w;
    }
  }
}

TEST(Dihedral, AffineMapIsTheSameAsTorchFlipAndRot90) {
  for (const auto& [h, w] : kShapes) {
    const at::Tensor x = torch::rand({h, w});
    for (const Dihedral& d : all_symmetries(h == w)) {
      Warp warp{h, w, source_from_output(d, h, w), {}, {}};
      at::Tensor out = torch::empty({h, w});
      warp_bilinear(warp, x.data_ptr<float>(), out.data_ptr<float>());
      // Exact: pixel centres go to pixel centres, so the bilinear weights are 1 and 0.
      EXPECT_TRUE(torch::equal(out, apply(d, x))) << to_string(d) << " " << h << "x" << w;
      const at::Tensor m = (x > 0.5).to(torch::kByte).contiguous();
      at::Tensor mout = torch::empty({h, w}, torch::kByte);
      warp_nearest(warp, m.data_ptr<uint8_t>(), mout.data_ptr<uint8_t>());
      EXPECT_TRUE(torch::equal(mout, apply(d, m))) << to_string(d);
    }
  }
}

TEST(Dihedral, QuarterTurnOfANonSquareImageIsRefused) {
  EXPECT_THROW(source_from_output({false, false, 1}, 7, 11), Error);
  EXPECT_NO_THROW(source_from_output({false, false, 2}, 7, 11));
}

TEST(Dihedral, FlipViewsStartWithTheIdentityAndAreDistinct) {
  const auto views = tta_views(TtaMode::kFlips);
  ASSERT_EQ(views.size(), 4u);
  EXPECT_TRUE(views[0].is_identity());
  for (size_t a = 0; a < views.size(); ++a)
    for (size_t b = a + 1; b < views.size(); ++b) EXPECT_FALSE(views[a] == views[b]);
  EXPECT_EQ(tta_views(TtaMode::kNone).size(), 1u);
  EXPECT_EQ(to_string({true, false, 3}), "flip_x+rot270");
}

TEST(Affine, ComposeInverseAndRotation) {
  const Affine r = Affine::rotation_scale(M_PI / 2, 2.0, 3, 4);
  // A quarter turn counterclockwise on screen (y down): the point right of the centre moves up.
  const auto [x, y] = r(4, 4);
  EXPECT_NEAR(x, 3, 1e-12);
  EXPECT_NEAR(y, 2, 1e-12);
  const auto [cx, cy] = r(3, 4);  // the centre stays
  EXPECT_NEAR(cx, 3, 1e-12);
  EXPECT_NEAR(cy, 4, 1e-12);
  const Affine id = r * r.inverse();
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(id.m[i], Affine{}.m[i], 1e-12);
  EXPECT_THROW((Affine{{1, 2, 0, 2, 4, 0}}.inverse()), Error);
}

}  // namespace
}  // namespace psam::geometry
