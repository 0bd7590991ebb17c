#include "psam/data/loader/loader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#if PSAM_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif
#include <set>

#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/data/store/splits.h"
#include "psam/geometry/resize_longest_side.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

constexpr int64_t kN = 11, kK = 3, kH = 12, kW = 20, kS = 64;
// ResizeLongestSide(64) of 12x20: 12 * 3.2 = 38.4 -> 38 rows, 64 columns.
constexpr int64_t kNh = 38, kNw = 64;

// A non-square HU store with blob masks of different sizes per annotator.
std::shared_ptr<const DatasetStore> make_store(const std::string& dir) {
  const DatasetInfo info = test::hu_info(kN, kK, kH, kW);
  torch::manual_seed(0);
  const at::Tensor images = torch::rand({kN, kH, kW}) * 1400 - 1100;
  at::Tensor masks = torch::zeros({kN, kK, kH, kW}, torch::kByte);
  std::vector<SampleMeta> meta;
  for (int64_t i = 0; i < kN; ++i) {
    for (int64_t k = 0; k < kK; ++k) {
      if (i == 4) continue;  // nobody marked sample 4
      const int64_t y = 2 + (i % 5), x = 3 + i, r = 1 + k;
      masks[i][k].index_put_({Slice(y, y + r + 1), Slice(x - k, x + r)}, 1);
    }
    SampleMeta m;
    m.id = "n" + std::to_string(i);
    m.patient_id = "p" + std::to_string(i / 2);
    meta.push_back(m);
  }
  DatasetWriter writer(dir, info);
  writer.add_batch(images, masks, meta);
  writer.commit(make_splits(meta, SplitOptions{}));
  return std::make_shared<const DatasetStore>(DatasetStore::open(dir));
}

std::vector<int64_t> all_indices() {
  std::vector<int64_t> v(kN);
  for (int64_t i = 0; i < kN; ++i) v[i] = i;
  return v;
}

LoaderOptions small_options() {
  LoaderOptions o;
  o.input_size = kS;
  o.batch_size = 3;
  return o;
}

std::vector<Batch> run_epochs(Loader& loader, int epochs) {
  std::vector<Batch> out;
  for (int e = 0; e < epochs; ++e)
    while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_TRUE(torch::equal(a.image, b.image));
  EXPECT_TRUE(torch::equal(a.masks, b.masks));
  EXPECT_TRUE(torch::equal(a.box, b.box));
  EXPECT_TRUE(torch::equal(a.annotator, b.annotator));
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.position.epoch, b.position.epoch);
  EXPECT_EQ(a.position.batch, b.position.batch);
}

class LoaderTest : public ::testing::Test {
 protected:
  test::TempDir tmp_;
  std::shared_ptr<const DatasetStore> store_ = make_store(test::path_in(tmp_, "store"));
};

TEST_F(LoaderTest, SameBatchesForAnyWorkerCount) {
  LoaderOptions o = small_options();
  o.box_jitter = 0.1;
  o.seed = 5;
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 2}) {
    o.workers = workers;
    Loader loader(store_, all_indices(), o);
    runs.push_back(run_epochs(loader, 2));
  }
  ASSERT_EQ(runs[0].size(), 8u);  // 2 epochs x ceil(11 / 3)
  for (size_t r = 1; r < runs.size(); ++r)
    for (size_t b = 0; b < runs[0].size(); ++b) expect_same(runs[0][b], runs[r][b]);
}

TEST_F(LoaderTest, EpochOrderIsASeededPermutation) {
  LoaderOptions o = small_options();
  Loader loader(store_, {7, 3, 9, 1, 0, 5}, o);
  const auto e0 = loader.epoch_order(0), e1 = loader.epoch_order(1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(std::multiset<int64_t>(e0.begin(), e0.end()),
            (std::multiset<int64_t>{0, 1, 3, 5, 7, 9}));
  EXPECT_EQ(std::multiset<int64_t>(e1.begin(), e1.end()),
            (std::multiset<int64_t>{0, 1, 3, 5, 7, 9}));
  EXPECT_EQ(Loader(store_, {7, 3, 9, 1, 0, 5}, o).epoch_order(1), e1);
  o.seed = 1;
  EXPECT_NE(Loader(store_, {7, 3, 9, 1, 0, 5}, o).epoch_order(0), e0);
  o.shuffle = false;
  EXPECT_EQ(Loader(store_, {7, 3, 9, 1, 0, 5}, o).epoch_order(4),
            (std::vector<int64_t>{0, 1, 3, 5, 7, 9}));
}

TEST_F(LoaderTest, LastBatchIsPartialOrDropped) {
  LoaderOptions o = small_options();
  o.batch_size = 4;
  Loader loader(store_, all_indices(), o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto batches = run_epochs(loader, 1);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].image.size(0), 3);
  EXPECT_EQ(batches[2].ids.size(), 3u);
  o.drop_last = true;
  Loader dropping(store_, all_indices(), o);
  EXPECT_EQ(run_epochs(dropping, 1).size(), 2u);
}

TEST_F(LoaderTest, SeekResumesTheExactStream) {
  LoaderOptions o = small_options();
  o.workers = 2;
  o.box_jitter = 0.2;
  Loader reference(store_, all_indices(), o);
  const auto batches = run_epochs(reference, 2);  // 4 per epoch
  EXPECT_EQ(reference.position().epoch, 2);
  EXPECT_EQ(reference.position().batch, 0);

  Loader resumed(store_, all_indices(), o);
  ASSERT_TRUE(resumed.next().has_value());  // batches in flight, then a seek
  resumed.seek({1, 2});
  EXPECT_EQ(resumed.position().batch, 2);
  auto b = resumed.next();
  ASSERT_TRUE(b.has_value());
  expect_same(*b, batches[6]);
  EXPECT_EQ(resumed.position().epoch, 1);
  EXPECT_EQ(resumed.position().batch, 3);
  resumed.seek({0, 0});
  expect_same(*resumed.next(), batches[0]);
  // Position at the end of an epoch: the next call ends it.
  resumed.seek({1, 4});
  EXPECT_FALSE(resumed.next().has_value());
  EXPECT_EQ(resumed.position().epoch, 2);
  EXPECT_EQ(resumed.position().batch, 0);
  EXPECT_THROW(resumed.seek({0, 5}), Error);
  // make_batch is what next() hands out.
  expect_same(reference.make_batch({1, 1}), batches[5]);
}

// The loader's image against the same pipeline written with torch ops.
at::Tensor expected_image(const at::Tensor& unit /*[H,W] in [0,1]*/) {
  const at::Tensor resized =
      F::interpolate(unit.view({1, 1, kH, kW}), F::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{kNh, kNw})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false))
          .expand({1, 3, kNh, kNw});
  const at::Tensor mean = torch::tensor({123.675f, 116.28f, 103.53f}).view({1, 3, 1, 1});
  const at::Tensor std = torch::tensor({58.395f, 57.12f, 57.375f}).view({1, 3, 1, 1});
  const at::Tensor normalised = (resized * 255 - mean) / std;
  return F::pad(normalised, F::PadFuncOptions({0, kS - kNw, 0, kS - kNh}))[0];
}

TEST_F(LoaderTest, ImageIsWindowedResizedNormalisedAndPadded) {
  LoaderOptions o = small_options();
  o.shuffle = false;
  o.raw_image = true;
  Loader loader(store_, all_indices(), o);
  const Batch batch = loader.make_batch({0, 1});
  ASSERT_EQ(batch.image.sizes(), (std::vector<int64_t>{3, 3, kS, kS}));
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t i = batch.index[b];
    // Lung window -600/1500: [-1350, 150] HU -> [0, 1].
    const at::Tensor unit = ((store_->images()[i] + 1350) / 1500).clamp(0, 1);
    EXPECT_TRUE(torch::allclose(batch.image[b], expected_image(unit), 1e-5, 1e-4))
        << (batch.image[b] - expected_image(unit)).abs().max();
    EXPECT_TRUE(torch::allclose(batch.raw_image[b], unit.expand({3, kH, kW}), 1e-6, 1e-6));
  }
  o.intensity = IntensityMapping::kMinMax;
  const Batch minmax = Loader(store_, all_indices(), o).make_batch({0, 0});
  const at::Tensor img = store_->images()[minmax.index[0]];
  const at::Tensor unit = (img - img.min()) / (img.max() - img.min());
  EXPECT_TRUE(torch::allclose(minmax.image[0], expected_image(unit), 1e-5, 1e-4));
}

TEST_F(LoaderTest, BoxComesFromThePromptMaskInTheInputFrame) {
  LoaderOptions o = small_options();
  o.shuffle = false;
  o.batch_size = kN;
  o.annotators = AnnotatorMode::kFixed;
  o.annotator = 1;
  const float sx = static_cast<float>(kNw) / kW, sy = static_cast<float>(kNh) / kH;
  const at::Tensor scale = torch::tensor({sx, sy, sx, sy});
  const at::Tensor masks = store_->masks();
  for (PromptSource source :
       {PromptSource::kUnion, PromptSource::kMajority, PromptSource::kAnnotator}) {
    o.prompt = source;
    const Batch batch = Loader(store_, all_indices(), o).make_batch({0, 0});
    EXPECT_TRUE(torch::equal(batch.masks.select(1, 0), masks.select(1, 1)));
    at::Tensor prompt;
    if (source == PromptSource::kUnion) prompt = masks.amax(1);
    if (source == PromptSource::kMajority) prompt = masks.sum(1).gt(kK / 2);
    if (source == PromptSource::kAnnotator) prompt = masks.select(1, 1);
    const at::Tensor expected = boxes_from_masks(prompt) * scale;
    EXPECT_TRUE(torch::allclose(batch.box, expected)) << to_string(source);
    // Sample 4 has no mark: the centred half box, scaled.
    EXPECT_TRUE(torch::allclose(batch.box[4], torch::tensor({5.f, 3.f, 15.f, 9.f}) * scale));
  }
}

TEST_F(LoaderTest, RandomAnnotatorIsUniformAndMasksMatchIt) {
  LoaderOptions o = small_options();
  o.workers = 2;
  Loader loader(store_, all_indices(), o);
  std::map<int64_t, int64_t> counts;
  for (int e = 0; e < 30; ++e)
    while (auto b = loader.next()) {
      for (int64_t j = 0; j < b->image.size(0); ++j) {
        const int64_t k = b->annotator[j].item<int64_t>();
        ++counts[k];
        ASSERT_TRUE(torch::equal(b->masks[j][0], store_->masks()[b->index[j]][k]));
      }
    }
  ASSERT_EQ(counts.size(), 3u);
  for (const auto& [k, n] : counts) EXPECT_NEAR(n / 330.0, 1.0 / 3, 0.08) << "annotator " << k;
}

TEST_F(LoaderTest, AllAnnotatorsAndMasksInTheInputFrame) {
  LoaderOptions o = small_options();
  o.annotators = AnnotatorMode::kAll;
  o.shuffle = false;
  const Batch native = Loader(store_, all_indices(), o).make_batch({0, 0});
  EXPECT_TRUE(torch::equal(native.masks, store_->masks().slice(0, 0, 3)));
  EXPECT_TRUE(torch::equal(native.annotator, torch::full({3}, -1, torch::kLong)));
  o.resize_masks = true;
  const Batch framed = Loader(store_, all_indices(), o).make_batch({0, 0});
  ASSERT_EQ(framed.masks.sizes(), (std::vector<int64_t>{3, kK, kS, kS}));
  const at::Tensor nearest =
      F::interpolate(
          store_->masks().slice(0, 0, 3).to(torch::kFloat),
          F::InterpolateFuncOptions().size(std::vector<int64_t>{kNh, kNw}).mode(torch::kNearest))
          .to(torch::kByte);
  EXPECT_TRUE(
      torch::equal(framed.masks.index({Slice(), Slice(), Slice(0, kNh), Slice(0, kNw)}), nearest));
  EXPECT_EQ(framed.masks.index({Slice(), Slice(), Slice(kNh)}).sum().item<int64_t>(), 0);
}

TEST_F(LoaderTest, JitterIsSeededAndStaysInTheFrame) {
  LoaderOptions o = small_options();
  o.batch_size = kN;
  const Batch plain = Loader(store_, all_indices(), o).make_batch({0, 0});
  o.box_jitter = 0.3;
  const Batch a = Loader(store_, all_indices(), o).make_batch({0, 0});
  const Batch b = Loader(store_, all_indices(), o).make_batch({0, 0});
  const Batch next_epoch = Loader(store_, all_indices(), o).make_batch({1, 0});
  EXPECT_TRUE(torch::equal(a.box, b.box));
  EXPECT_FALSE(torch::equal(a.box, plain.box));
  EXPECT_GE(a.box.min().item<float>(), 0);
  EXPECT_LE(a.box.select(1, 2).max().item<float>(), (kW - 1) * static_cast<float>(kNw) / kW);
  EXPECT_TRUE((a.box.select(1, 0) <= a.box.select(1, 2)).all().item<bool>());
  EXPECT_FALSE(torch::equal(a.box, next_epoch.box));
}

// input_size 0 (methods that read the image at its own size): no frame image, the [0,1] image,
// masks at store size and boxes in image pixels: the framed loader's values without the frame.
TEST_F(LoaderTest, NoFrameGivesTheImageAtItsOwnSize) {
  LoaderOptions framed = small_options();
  framed.shuffle = false;
  framed.batch_size = kN;
  framed.raw_image = true;
  framed.box_jitter = 0.2;
  framed.annotators = AnnotatorMode::kFixed;
  framed.annotator = 2;
  LoaderOptions o = framed;
  o.input_size = 0;
  const Batch a = Loader(store_, all_indices(), framed).make_batch({1, 0});
  const Batch b = Loader(store_, all_indices(), o).make_batch({1, 0});
  EXPECT_FALSE(b.image.defined());
  EXPECT_TRUE(torch::equal(b.raw_image, a.raw_image));
  EXPECT_TRUE(torch::equal(b.masks, store_->masks().select(1, 2).unsqueeze(1)));
  EXPECT_TRUE(torch::equal(b.masks, a.masks));
  const float sx = static_cast<float>(kNw) / kW, sy = static_cast<float>(kNh) / kH;
  EXPECT_TRUE(torch::allclose(b.box * torch::tensor({sx, sy, sx, sy}), a.box));
  EXPECT_EQ(b.size, (std::array<int64_t, 2>{kH, kW}));

  o.raw_image = false;
  EXPECT_THROW(Loader(store_, all_indices(), o), Error);
  o.raw_image = true;
  o.resize_masks = true;
  EXPECT_THROW(Loader(store_, all_indices(), o), Error);
}

// One image outside a store without a frame, tall, wide and square: its [0,1] pixels and the
// box as given.
TEST(ImageBatch, NoFrameKeepsTheImageAndBox) {
  LoaderOptions o;
  o.input_size = 0;
  o.raw_image = true;
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{30, 12}, {9, 25}, {16, 16}}) {
    const at::Tensor image = torch::randint(0, 256, {h, w}).to(torch::kByte);
    const Batch b = image_batch(image, Intensity::kUint8, Box{1, 2, 7, 8}, o);
    EXPECT_FALSE(b.image.defined());
    EXPECT_TRUE(torch::allclose(b.raw_image[0], (image.to(torch::kFloat) / 255).expand({3, h, w}),
                                1e-6, 0));
    EXPECT_TRUE(torch::equal(b.box, torch::tensor({{1.f, 2.f, 7.f, 8.f}})));
    EXPECT_EQ(b.size, (std::array<int64_t, 2>{h, w}));
  }
}

TEST_F(LoaderTest, RejectsOptionsThatCannotWork) {
  LoaderOptions o = small_options();
  o.annotators = AnnotatorMode::kFixed;
  o.annotator = kK;
  EXPECT_THROW(Loader(store_, all_indices(), o), Error);
  o = small_options();
  o.annotators = AnnotatorMode::kAll;
  o.prompt = PromptSource::kAnnotator;
  EXPECT_THROW(Loader(store_, all_indices(), o), Error);
  o = small_options();
  o.batch_size = 0;
  EXPECT_THROW(Loader(store_, all_indices(), o), Error);
  EXPECT_THROW(Loader(store_, {kN}, small_options()), Error);
  EXPECT_THROW(annotator_mode_from_string("two"), Error);
  EXPECT_EQ(intensity_mapping_from_string("minmax"), IntensityMapping::kMinMax);
}

TEST(Loader, Uint8RgbStoreMapsEachChannel) {
  test::TempDir tmp;
  DatasetInfo info = test::hu_info(2, 1, 16, 16);
  info.channels = 3;
  info.image_dtype = at::kByte;
  info.intensity = Intensity::kUint8;
  const at::Tensor images = torch::randint(0, 256, {2, 16, 16, 3}).to(torch::kByte);
  std::vector<SampleMeta> meta(2);
  meta[0].id = "a";
  meta[1].id = "b";
  meta[0].patient_id = meta[1].patient_id = "p";
  {
    DatasetWriter writer(test::path_in(tmp, "rgb"), info);
    writer.add_batch(images, torch::ones({2, 1, 16, 16}), meta);
    writer.commit(make_splits(meta, SplitOptions{}));
  }
  auto store = std::make_shared<const DatasetStore>(DatasetStore::open(test::path_in(tmp, "rgb")));
  LoaderOptions o;
  o.input_size = 16;  // no resize: the normalisation alone
  o.shuffle = false;
  o.batch_size = 2;
  const Batch batch = Loader(store, {0, 1}, o).make_batch({0, 0});
  const at::Tensor chw = images.permute({0, 3, 1, 2}).to(torch::kFloat);
  const at::Tensor mean = torch::tensor({123.675f, 116.28f, 103.53f}).view({1, 3, 1, 1});
  const at::Tensor std = torch::tensor({58.395f, 57.12f, 57.375f}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(batch.image, (chw - mean) / std, 1e-5, 1e-4));
  o.intensity = IntensityMapping::kWindow;
  EXPECT_THROW(Loader(store, {0, 1}, o), Error);
}

// Real LIDC crops (50x50 grey PNGs, 31 patients) with the intersection and union of their
// readers as two masks: the union box must contain every pixel all readers agreed on.
TEST(LoaderRealData, LidcCropsWithUnionAndIntersection) {
#if !PSAM_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV (the crops are PNG files)";
#else
  const auto root = test::shared_dir() / "realdata" / "lidc_71nodules_union_intersection" / "crops";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << root << " absent";
  std::vector<std::string> stems;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.find("_union.png") != std::string::npos)
      stems.push_back(name.substr(0, name.size() - std::string("_union.png").size()));
  }
  std::sort(stems.begin(), stems.end());
  ASSERT_EQ(stems.size(), 71u);
  test::TempDir tmp;
  DatasetInfo info = test::hu_info(71, 2, 50, 50);
  info.image_dtype = at::kByte;
  info.intensity = Intensity::kUint8;
  {
    DatasetWriter writer(test::path_in(tmp, "lidc71"), info);
    auto load = [&](const std::string& file) {
      const cv::Mat m = cv::imread((root / file).string(), cv::IMREAD_GRAYSCALE);
      EXPECT_EQ(m.rows, 50) << file;
      return torch::from_blob(m.data, {50, 50}, torch::kByte).clone();
    };
    for (const auto& stem : stems) {
      SampleMeta m;
      m.id = stem;
      m.patient_id = stem.substr(0, stem.find('_'));
      const at::Tensor masks = torch::stack(
          {load(stem + "_intersection.png").gt(127), load(stem + "_union.png").gt(127)});
      writer.add(load(stem + ".png"), masks, m);
    }
    writer.commit(make_splits(writer.meta(), SplitOptions{}));
  }
  EXPECT_TRUE(check_store(test::path_in(tmp, "lidc71")).ok());
  auto store =
      std::make_shared<const DatasetStore>(DatasetStore::open(test::path_in(tmp, "lidc71")));
  LoaderOptions o;
  o.input_size = 256;
  o.batch_size = 8;
  o.workers = 2;
  Loader loader(store, store->split_indices("train"), o);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    for (int64_t j = 0; j < b->image.size(0); ++j, ++seen) {
      const at::Tensor inter = store->masks()[b->index[j]][0];
      ASSERT_GT(inter.sum().item<int64_t>(), 0) << b->ids[j];
      // Moved into the frame by SAM's own rule, as the loader moves the union box.
      const at::Tensor tight = geometry::ResizeLongestSide(256).apply_boxes(
          boxes_from_masks(inter.unsqueeze(0))[0], {50, 50});
      const at::Tensor box = b->box[j];
      EXPECT_LE(box[0].item<float>(), tight[0].item<float>());
      EXPECT_LE(box[1].item<float>(), tight[1].item<float>());
      EXPECT_GE(box[2].item<float>(), tight[2].item<float>());
      EXPECT_GE(box[3].item<float>(), tight[3].item<float>());
      // uint8 grey -> [0,1] -> SAM normalisation stays within its bounds.
      EXPECT_GE(b->image[j][0].min().item<float>(), -123.675f / 58.395f - 1e-4);
      EXPECT_LE(b->image[j][0].max().item<float>(), (255 - 123.675f) / 58.395f + 1e-4);
    }
  }
  EXPECT_EQ(seen, static_cast<int64_t>(store->split_indices("train").size()));
  EXPECT_GT(seen, 30);
#endif
}

}  // namespace
}  // namespace psam::data
