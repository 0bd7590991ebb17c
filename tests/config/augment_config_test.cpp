// The keys issue 28 added: data.augment (nested sections, off by default), eval.tta and
// model.sam.img_size: auto.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_error.h"
#include "psam/sam/config.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::config {
namespace {

using config_test::load_error;

TEST(AugmentConfig, SectionsLoadAndWriteBack) {
  support::TempDir dir;
  const std::string path = dir.write("aug.yaml", R"(
data:
  augment:
    flip_x: 0.5
    rot90: 0.25
    affine: {p: 0.3, rotate: 10, scale: [0.9, 1.2], translate: 0.05}
    elastic: {p: 0.1, magnitude: 1.5, sigma: 5}
    gamma: {p: 0.2, range: [0.8, 1.3]}
eval: {tta: flips}
)");
  const Config c = load<Config>(path, {"data.augment.noise.p=0.1"});
  EXPECT_EQ(c.data.augment.flip_x, 0.5);
  EXPECT_EQ(c.data.augment.flip_y, 0.0);
  EXPECT_EQ(c.data.augment.rot90, 0.25);
  EXPECT_EQ(c.data.augment.affine.scale, (std::vector<double>{0.9, 1.2}));
  EXPECT_EQ(c.data.augment.elastic.sigma, 5.0);
  EXPECT_EQ(c.data.augment.gamma.range, (std::vector<double>{0.8, 1.3}));
  EXPECT_EQ(c.data.augment.noise.p, 0.1);
  EXPECT_EQ(c.data.augment.noise.range, (std::vector<double>{0.0, 0.05}));  // the default
  EXPECT_EQ(c.eval.tta, geometry::TtaMode::kFlips);
  const Config back = load<Config>(dir.write("back.yaml", to_yaml(c)));
  EXPECT_EQ(to_yaml(back), to_yaml(c));
  EXPECT_FALSE(Config{}.data.augment.enabled());
  EXPECT_EQ(Config{}.eval.tta, geometry::TtaMode::kNone);
  EXPECT_EQ(load_error(path, {"eval.tta=rotations"}),
            "command line: key 'eval.tta' expects one of none, flips, got 'rotations'");
  EXPECT_NE(load_error(path, {"data.augment.afine.p=1"})
                .find("unknown key 'data.augment.afine' (did you mean 'data.augment.affine'?)"),
            std::string::npos);
}

TEST(AugmentConfig, ImgSizeTakesANumberOrAuto) {
  support::TempDir dir;
  const std::string path = dir.write("auto.yaml", "model:\n  sam: {img_size: auto}\n");
  const Config c = load<Config>(path);
  EXPECT_EQ(c.model.prob.sam.img_size, sam::kAutoImgSize);
  EXPECT_NE(to_yaml(c).find("img_size: auto"), std::string::npos);
  EXPECT_EQ(load<Config>(dir.write("back.yaml", to_yaml(c))).model.prob.sam.img_size,
            sam::kAutoImgSize);
  EXPECT_EQ(load<Config>(path, {"model.sam.img_size=256"}).model.prob.sam.img_size, 256);
  EXPECT_EQ(load_error(path, {"model.sam.img_size=big"}),
            "command line: key 'model.sam.img_size' expects an integer or auto, got 'big'");
  // Unresolved, the model refuses to be built.
  EXPECT_THROW(c.model.prob.sam.validate(), Error);
}

}  // namespace
}  // namespace psam::config
