// Training augmentation in the loader: every transformation keeps the image, every annotator's
// mask and the prompt box together (a marker drawn into image and masks, on tall, wide and
// square stores), intensity changes leave the geometry alone, and the draws are a function of
// (seed, epoch, position) only.
#include "psam/data/loader/augment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <string>

#include "data/data_test_util.h"
#include "psam/data/loader/loader.h"
#include "psam/data/store/splits.h"
#include "psam/geometry/resize_longest_side.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

using torch::indexing::Slice;
constexpr int64_t kCount = 6, kAnnotators = 2;

// An L-shaped marker (no symmetry, so a wrong mirror or turn shows) near the centre, at 0 HU on
// -1000 HU; annotator 0 marks the whole L, annotator 1 its vertical bar only.
std::shared_ptr<const DatasetStore> marker_store(const std::string& dir, int64_t h, int64_t w) {
  const DatasetInfo info = test::hu_info(kCount, kAnnotators, h, w);
  at::Tensor images = torch::full({kCount, h, w}, -1000.0f);
  at::Tensor masks = torch::zeros({kCount, kAnnotators, h, w}, torch::kByte);
  std::vector<SampleMeta> meta;
  for (int64_t i = 0; i < kCount; ++i) {
    const int64_t y = h / 2 - 6 + i % 3, x = w / 2 - 4 + i % 2;
    const auto bar = std::make_tuple(Slice(y, y + 10), Slice(x, x + 3));
    const auto foot = std::make_tuple(Slice(y + 7, y + 10), Slice(x + 3, x + 8));
    images[i].index_put_({std::get<0>(bar), std::get<1>(bar)}, 0.0f);
    images[i].index_put_({std::get<0>(foot), std::get<1>(foot)}, 0.0f);
    masks[i][0].index_put_({std::get<0>(bar), std::get<1>(bar)}, 1);
    masks[i][0].index_put_({std::get<0>(foot), std::get<1>(foot)}, 1);
    masks[i][1].index_put_({std::get<0>(bar), std::get<1>(bar)}, 1);
    SampleMeta m;
    m.id = "m" + std::to_string(i);
    m.patient_id = "p" + std::to_string(i);
    meta.push_back(m);
  }
  DatasetWriter writer(dir, info);
  writer.add_batch(images, masks, meta);
  writer.commit(make_splits(meta, SplitOptions{}));
  return std::make_shared<const DatasetStore>(DatasetStore::open(dir));
}

std::vector<int64_t> every_sample() {
  std::vector<int64_t> v(kCount);
  for (int64_t i = 0; i < kCount; ++i) v[i] = i;
  return v;
}

LoaderOptions marker_options(int64_t input_size) {
  LoaderOptions o;
  o.input_size = input_size;
  o.batch_size = kCount;
  o.shuffle = false;
  o.annotators = AnnotatorMode::kAll;
  o.intensity = IntensityMapping::kMinMax;  // background 0, marker 1
  o.raw_image = true;
  o.seed = 7;
  return o;
}

// The tight box of a mask [H,W] (pixel indices, max inclusive), as box_from_mask.
std::array<float, 4> tight_box(const at::Tensor& mask) {
  const at::Tensor m = mask.contiguous().to(torch::kByte);
  const Box b = box_from_mask(m.data_ptr<uint8_t>(), m.size(0), m.size(1));
  return {b.x0, b.y0, b.x1, b.y1};
}

double iou(const at::Tensor& a, const at::Tensor& b) {
  const double inter = (a & b).sum().item<double>(), uni = (a | b).sum().item<double>();
  return uni == 0 ? 1.0 : inter / uni;
}

struct Shape {
  const char* name;
  int64_t h, w;
};
constexpr std::array<Shape, 3> kShapes = {{{"tall", 48, 30}, {"wide", 30, 48}, {"square", 40, 40}}};

// One transformation at a time, always applied.
std::vector<std::pair<std::string, AugmentOptions>> geometric_cases() {
  std::vector<std::pair<std::string, AugmentOptions>> out;
  AugmentOptions a;
  a.flip_x = 1;
  out.emplace_back("flip_x", a);
  a = {};
  a.flip_y = 1;
  out.emplace_back("flip_y", a);
  a = {};
  a.rot90 = 1;
  out.emplace_back("rot90", a);
  a = {};
  a.affine = {1, 30, {0.8, 1.3}, 0.1};
  out.emplace_back("affine", a);
  a = {};
  a.elastic = {1, 1.5, 4};
  out.emplace_back("elastic", a);
  return out;
}

class AugmentTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
};

TEST_F(AugmentTest, EveryTransformationKeepsImageMasksAndBoxAligned) {
  for (const Shape& shape : kShapes) {
    const auto store = marker_store(dir_.path() + "/" + shape.name, shape.h, shape.w);
    const LoaderOptions plain = marker_options(64);
    const Batch before = Loader(store, every_sample(), plain).make_batch({0, 0});
    for (const auto& [name, augment] : geometric_cases()) {
      SCOPED_TRACE(std::string(shape.name) + " " + name);
      LoaderOptions o = plain;
      o.augment = augment;
      const Loader loader(store, every_sample(), o);
      int64_t moved = 0;
      for (int64_t epoch = 0; epoch < 3; ++epoch) {
        const Batch b = loader.make_batch({epoch, 0});
        const bool exact = name != "affine" && name != "elastic";
        for (int64_t i = 0; i < kCount; ++i) {
          const at::Tensor l = b.masks[i][0].to(torch::kBool), bar = b.masks[i][1].to(torch::kBool);
          const at::Tensor bright = b.raw_image[i][0] > 0.5;
          // Both annotators move together: the bar stays inside the L.
          EXPECT_EQ((bar & ~l).sum().item<int64_t>(), 0);
          EXPECT_GT(bar.sum().item<int64_t>(), 0);
          if (exact) {
            EXPECT_TRUE(torch::equal(bright, l));
            EXPECT_EQ(l.sum().item<int64_t>(), before.masks[i][0].sum().item<int64_t>());
          } else {
            EXPECT_GT(iou(bright, l), 0.75);
          }
          // The box is the prompt mask's (the union: the L) after the move, in image pixels,
          // and the same box in the SAM frame.
          const auto tb = tight_box(l);
          const auto [sx, sy] = geometry::ResizeLongestSide::coord_scale({shape.h, shape.w}, 64);
          for (int c = 0; c < 4; ++c) {
            EXPECT_EQ(b.image_box[i][c].item<float>(), tb[c]);
            EXPECT_FLOAT_EQ(b.box[i][c].item<float>(),
                            static_cast<float>(tb[c] * (c % 2 == 0 ? sx : sy)));
          }
          // The framed image shows the marker inside the framed box (one pixel of slack for
          // the resize).
          const at::Tensor frame_bright = b.image[i][0] > 0.0;  // normalised: bg < 0 < marker
          const auto fb = tight_box(frame_bright);
          EXPECT_NEAR(fb[0], b.box[i][0].item<float>(), 2.0);
          EXPECT_NEAR(fb[1], b.box[i][1].item<float>(), 2.0);
          EXPECT_NEAR(fb[2], b.box[i][2].item<float>(), 2.0 + sx);
          EXPECT_NEAR(fb[3], b.box[i][3].item<float>(), 2.0 + sy);
          if (!torch::equal(b.masks[i], before.masks[i])) ++moved;
        }
      }
      EXPECT_GT(moved, kCount) << "the transformation hardly ever changed a sample";
    }
  }
}

TEST_F(AugmentTest, IntensityChangesLeaveMasksAndBoxesAlone) {
  const auto store = marker_store(dir_.path() + "/wide", 30, 48);
  const LoaderOptions plain = marker_options(64);
  const Batch before = Loader(store, every_sample(), plain).make_batch({0, 0});
  LoaderOptions o = plain;
  o.augment.brightness = {1, {2.0, 2.0}};
  const Batch doubled = Loader(store, every_sample(), o).make_batch({0, 0});
  EXPECT_TRUE(torch::equal(doubled.raw_image, before.raw_image * 2));
  EXPECT_TRUE(torch::equal(doubled.masks, before.masks));
  EXPECT_TRUE(torch::equal(doubled.box, before.box));

  o.augment = {};
  o.augment.noise = {1, {0.1, 0.1}};
  const Batch noisy = Loader(store, every_sample(), o).make_batch({0, 0});
  const at::Tensor diff = noisy.raw_image[0][0] - before.raw_image[0][0];
  EXPECT_NEAR(diff.std().item<double>(), 0.1, 0.01);
  EXPECT_NEAR(diff.mean().item<double>(), 0.0, 0.01);
  // Grey stores: the three channels stay one image.
  EXPECT_TRUE(torch::equal(noisy.raw_image[0][0], noisy.raw_image[0][2]));
  EXPECT_TRUE(torch::equal(noisy.masks, before.masks));

  o.augment = {};
  o.augment.gamma = {1, {2.0, 2.0}};
  o.augment.contrast = {1, {0.5, 0.5}};
  o.augment.blur = {1, {1.0, 1.0}};
  const Batch toned = Loader(store, every_sample(), o).make_batch({0, 0});
  EXPECT_TRUE(torch::equal(toned.masks, before.masks));
  EXPECT_FALSE(torch::equal(toned.raw_image, before.raw_image));
  // Contrast and gamma keep the image's range; the blur spreads the marker's edge.
  EXPECT_LE(toned.raw_image.max().item<float>(), 1.0f + 1e-6f);
  EXPECT_GE(toned.raw_image.min().item<float>(), -1e-6f);
}

TEST_F(AugmentTest, DrawsDependOnSeedEpochAndPositionOnly) {
  const auto store = marker_store(dir_.path() + "/square", 40, 40);
  LoaderOptions o = marker_options(64);
  o.batch_size = 2;
  o.shuffle = true;
  o.augment.flip_x = 0.5;
  o.augment.rot90 = 0.5;
  o.augment.affine = {0.5, 20, {0.9, 1.1}, 0.05};
  o.augment.elastic = {0.5, 1.0, 4};
  o.augment.gamma = {0.5, {0.7, 1.5}};
  o.augment.noise = {0.5, {0.0, 0.05}};
  std::vector<Batch> serial;
  {
    Loader loader(store, every_sample(), o);
    for (int e = 0; e < 2; ++e)
      while (auto b = loader.next()) serial.push_back(std::move(*b));
  }
  LoaderOptions threaded = o;
  threaded.workers = 2;
  Loader loader(store, every_sample(), threaded);
  std::vector<Batch> parallel;
  for (int e = 0; e < 2; ++e)
    while (auto b = loader.next()) parallel.push_back(std::move(*b));
  ASSERT_EQ(serial.size(), parallel.size());
  for (size_t k = 0; k < serial.size(); ++k) {
    EXPECT_TRUE(torch::equal(serial[k].image, parallel[k].image));
    EXPECT_TRUE(torch::equal(serial[k].raw_image, parallel[k].raw_image));
    EXPECT_TRUE(torch::equal(serial[k].masks, parallel[k].masks));
    EXPECT_TRUE(torch::equal(serial[k].box, parallel[k].box));
  }
  // A resumed stream (seek) makes the same batches.
  loader.seek({1, 1});
  const Batch resumed = *loader.next();
  EXPECT_TRUE(torch::equal(resumed.image, serial[4].image));
  EXPECT_TRUE(torch::equal(resumed.masks, serial[4].masks));
  // Another epoch draws other augmentations; another seed too.
  LoaderOptions other_seed = o;
  other_seed.seed = 8;
  other_seed.shuffle = false;
  o.shuffle = false;
  const Loader a(store, every_sample(), o), b(store, every_sample(), other_seed);
  EXPECT_FALSE(torch::equal(a.make_batch({0, 0}).raw_image, a.make_batch({1, 0}).raw_image));
  EXPECT_FALSE(torch::equal(a.make_batch({0, 0}).raw_image, b.make_batch({0, 0}).raw_image));
}

TEST_F(AugmentTest, OffByDefaultAndBadValuesAreOneLineErrors) {
  EXPECT_FALSE(AugmentOptions{}.enabled());
  const auto store = marker_store(dir_.path() + "/tall", 48, 30);
  auto expect_error = [&](const AugmentOptions& a, const std::string& key) {
    LoaderOptions o = marker_options(64);
    o.augment = a;
    try {
      const Loader rejected(store, every_sample(), o);
      ADD_FAILURE() << "no error for " << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("data.augment." + key), std::string::npos) << e.what();
    }
  };
  AugmentOptions a;
  a.flip_x = 1.5;
  expect_error(a, "flip_x");
  a = {};
  a.affine.scale = {1.2, 0.8};
  expect_error(a, "affine.scale");
  a = {};
  a.gamma = {0.5, {0.0, 2.0}};
  expect_error(a, "gamma.range");
  a = {};
  a.noise = {0.5, {0.1}};
  expect_error(a, "noise.range");
}

TEST_F(AugmentTest, ViewMirrorsImageMasksAndBox) {
  for (const Shape& shape : kShapes) {
    const auto store = marker_store(dir_.path() + "/v" + shape.name, shape.h, shape.w);
    LoaderOptions o = marker_options(0);
    o.resize_masks = false;
    const Batch before = Loader(store, every_sample(), o).make_batch({0, 0});
    for (const auto& view : geometry::tta_views(geometry::TtaMode::kFlips)) {
      o.view = view;
      const Batch b = Loader(store, every_sample(), o).make_batch({0, 0});
      EXPECT_TRUE(torch::equal(geometry::apply(view, before.masks), b.masks));
      EXPECT_TRUE(torch::equal(geometry::apply(view, before.raw_image), b.raw_image));
      for (int64_t i = 0; i < kCount; ++i) {
        const auto tb = tight_box(b.masks[i][0]);
        for (int c = 0; c < 4; ++c) EXPECT_EQ(b.box[i][c].item<float>(), tb[c]);
      }
      // A single image (psam predict) moves its given box the same way.
      const at::Tensor image = store->images()[2];
      const Box given{before.image_box[2][0].item<float>(), before.image_box[2][1].item<float>(),
                      before.image_box[2][2].item<float>(), before.image_box[2][3].item<float>()};
      const Batch one = image_batch(image, Intensity::kHu, given, o);
      EXPECT_TRUE(torch::equal(one.image_box[0], b.image_box[2]));
    }
  }
}

}  // namespace
}  // namespace psam::data
