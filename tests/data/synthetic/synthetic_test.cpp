#include "psam/data/synthetic/synthetic.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"

namespace psam::data {
namespace {

SynthOptions small(int64_t count, int64_t size = 64) {
  SynthOptions o;
  o.count = count;
  o.size = size;
  o.radius_max = 10;  // fits the smaller patch
  return o;
}

TEST(Synthetic, SampleIsAFunctionOfSeedAndIndex) {
  const SynthOptions o = small(10);
  const SynthSample a = synth_sample(o, 5), b = synth_sample(o, 5);
  EXPECT_TRUE(torch::equal(a.image, b.image));
  EXPECT_TRUE(torch::equal(a.masks, b.masks));
  EXPECT_TRUE(torch::equal(a.oracle, b.oracle));
  EXPECT_EQ(a.meta.extra_json, b.meta.extra_json);
  EXPECT_EQ(a.meta.id, "synth-000005");
  EXPECT_EQ(a.meta.patient_id, "synth-p00001");  // 4 samples per patient
  SynthOptions other = o;
  other.seed = 1;
  EXPECT_FALSE(torch::equal(synth_sample(other, 5).image, a.image));
  EXPECT_FALSE(torch::equal(synth_sample(o, 6).image, a.image));
  // Adding annotators does not change the image or the first annotators' masks.
  SynthOptions more = o;
  more.annotators = 6;
  const SynthSample c = synth_sample(more, 5);
  EXPECT_TRUE(torch::equal(c.image, a.image));
}

TEST(Synthetic, StoreBytesDoNotDependOnThreadCount) {
  test::TempDir tmp;
  const SynthOptions o = small(40, 48);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  generate_synthetic(test::path_in(tmp, "one"), o, SplitOptions{});
  at::set_num_threads(2);
  generate_synthetic(test::path_in(tmp, "two"), o, SplitOptions{});
  at::set_num_threads(threads);
  for (const char* file :
       {"images.npy", "masks.npy", "oracle_masks.npy", "meta.jsonl", "splits.json", "dataset.json"})
    EXPECT_EQ(read_file(test::path_in(tmp, std::string("one/") + file)),
              read_file(test::path_in(tmp, std::string("two/") + file)))
        << file;
}

// Square stores are byte for byte what the generator wrote before it learnt non-square
// patches (SHA-256 of the files of commit db686e3's `psam data synth OUT --n 12 --size 32
// --seed 5 --oracle 2`).
TEST(Synthetic, SquareStoresAreUnchanged) {
  test::TempDir tmp;
  SynthOptions o;
  o.count = 12;
  o.size = 32;
  o.seed = 5;
  o.oracle_draws = 2;
  const std::string dir = test::path_in(tmp, "pin");
  generate_synthetic(dir, o, SplitOptions{});
  const std::pair<const char*, const char*> pinned[] = {
      {"images.npy", "97d1288e6cc1239e8f8683b994393e542d769191562e5c86afd8853524ecf587"},
      {"masks.npy", "258fe79dcbe2d6890dfe6e738ff3ea8883031b821edc08cdff52a1530d03a8ad"},
      {"oracle_masks.npy", "9cdd91e0321d9c0a5e6bcdbbfecbb3ee1146844a7ec98418f0def6a7fc390eef"},
      {"dataset.json", "34e4cc83d607803f1381f44689745da91c1dc261248b6540e11ff7a75e87b0fc"},
      {"meta.jsonl", "50627260ed8ed7315f8ee5f506f486b8d16792573ee273665c2f7f8ebac3bf61"}};
  for (const auto& [file, sha] : pinned)
    EXPECT_EQ(sha256_hex(read_file(dir + "/" + file)), sha) << file;
}

// Tall and wide patches: the image, masks and oracle draws have the asked shape, the nodule sits
// near the patch centre, and the masks follow the same threshold rule as square ones.
TEST(Synthetic, NonSquarePatchesKeepTheRules) {
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{40, 72}, {72, 40}}) {
    SynthOptions o = small(30);
    o.height = h;
    o.width = w;
    o.radius_max = 8;
    o.reader_wobble = 0;
    o.attached_prob = 0.8;
    for (int64_t i = 0; i < o.count; ++i) {
      const SynthSample s = synth_sample(o, i);
      ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{h, w}));
      ASSERT_EQ(s.masks.sizes(), (std::vector<int64_t>{o.annotators, h, w}));
      ASSERT_EQ(s.oracle.sizes(), (std::vector<int64_t>{o.oracle_draws, h, w}));
      const auto extra = nlohmann::json::parse(s.meta.extra_json);
      const double cx = extra["center_xy"][0], cy = extra["center_xy"][1];
      EXPECT_NEAR(cx, w / 2.0, w / 16.0) << i;
      EXPECT_NEAR(cy, h / 2.0, h / 16.0) << i;
      // The membership peaks at the centre's pixel.
      EXPECT_GT(s.nodule[std::lround(cy)][std::lround(cx)].item<float>(), 0.5f) << i;
      for (int64_t k = 0; k < o.annotators; ++k) {
        const at::Tensor membership = extra["reader_includes_attached"][k].get<bool>()
                                          ? torch::maximum(s.nodule, s.attached)
                                          : s.nodule;
        const at::Tensor expected =
            extra["reader_marked"][k].get<bool>()
                ? membership.gt(extra["reader_level"][k].get<double>()).to(torch::kByte)
                : torch::zeros_like(s.masks[k]);
        ASSERT_TRUE(torch::equal(s.masks[k], expected)) << i << " " << k;
      }
    }
    test::TempDir tmp;
    o.count = 8;
    generate_synthetic(test::path_in(tmp, "s"), o, SplitOptions{});
    const DatasetStore store = DatasetStore::open(test::path_in(tmp, "s"));
    EXPECT_EQ(store.info().height, h);
    EXPECT_EQ(store.info().width, w);
    EXPECT_TRUE(check_store(test::path_in(tmp, "s")).ok());
    const auto provenance = nlohmann::json::parse(store.info().provenance_json);
    EXPECT_EQ(provenance["options"]["height"], h);
    EXPECT_EQ(provenance["options"]["width"], w);
    EXPECT_FALSE(provenance["options"].contains("size"));
  }
}

TEST(Synthetic, MasksAreTheDeclaredThresholdsOfTheMembership) {
  SynthOptions o = small(30);
  o.reader_wobble = 0;  // then a mask is exactly the thresholded latent membership
  o.attached_prob = 0.8;
  for (int64_t i = 0; i < o.count; ++i) {
    const SynthSample s = synth_sample(o, i);
    const auto extra = nlohmann::json::parse(s.meta.extra_json);
    for (int64_t k = 0; k < o.annotators; ++k) {
      const bool marked = extra["reader_marked"][k];
      const bool include = extra["reader_includes_attached"][k];
      const double level = extra["reader_level"][k];
      at::Tensor membership = include ? torch::maximum(s.nodule, s.attached) : s.nodule;
      const at::Tensor expected =
          marked ? membership.gt(level).to(torch::kByte) : torch::zeros_like(s.masks[k]);
      ASSERT_TRUE(torch::equal(s.masks[k], expected)) << "sample " << i << " annotator " << k;
      EXPECT_GE(level, o.level_min);
      EXPECT_LE(level, o.level_max);
      if (!extra["attached"].get<bool>()) {
        EXPECT_FALSE(include);
      }
    }
  }
}

TEST(Synthetic, AnnotatorDrawsFollowTheOptions) {
  SynthOptions o = small(700, 40);
  o.radius_min = 4;  // large enough that a marking annotator never draws an empty outline
  o.radius_max = 6;
  int64_t groups[2] = {0, 0}, empty[2] = {0, 0}, oracle_empty[2] = {0, 0};
  int64_t attached_readers = 0, included = 0, nobody = 0;
  double level_sum = 0;
  for (int64_t i = 0; i < o.count; ++i) {
    const SynthSample s = synth_sample(o, i);
    const auto extra = nlohmann::json::parse(s.meta.extra_json);
    const int g = extra["equivocal"].get<bool>() ? 1 : 0;
    ++groups[g];
    const at::Tensor marked = s.masks.flatten(1).amax(1).gt(0);
    empty[g] += o.annotators - marked.sum().item<int64_t>();
    nobody += marked.sum().item<int64_t>() == 0;
    oracle_empty[g] += s.oracle.flatten(1).amax(1).eq(0).sum().item<int64_t>();
    for (int64_t k = 0; k < o.annotators; ++k) {
      level_sum += extra["reader_level"][k].get<double>();
      if (extra["attached"].get<bool>()) {
        ++attached_readers;
        included += extra["reader_includes_attached"][k].get<bool>();
      }
    }
  }
  EXPECT_EQ(nobody, 0);  // require_marked
  auto near = [](double value, double expected, int64_t n, const char* what) {
    const double sigma = std::sqrt(expected * (1 - expected) / n);
    EXPECT_NEAR(value, expected, 4 * sigma + 1e-3) << what;
  };
  near(static_cast<double>(groups[1]) / o.count, o.equivocal_share, o.count, "equivocal share");
  // An annotator is empty with p, conditioned on not all K empty: (p - p^K) / (1 - p^K).
  const double p[2] = {o.empty_prob_clear, o.empty_prob_equivocal};
  for (int g = 0; g < 2; ++g) {
    const double pk = std::pow(p[g], o.annotators), expected = (p[g] - pk) / (1 - pk);
    near(static_cast<double>(empty[g]) / (groups[g] * o.annotators), expected,
         groups[g] * o.annotators / 2, g ? "equivocal empty share" : "clear empty share");
    near(static_cast<double>(oracle_empty[g]) / (groups[g] * o.oracle_draws), expected,
         groups[g] * o.oracle_draws / 4, g ? "equivocal oracle empty" : "clear oracle empty");
  }
  near(static_cast<double>(included) / attached_readers, o.include_attached_prob, attached_readers,
       "includes attached");
  EXPECT_NEAR(level_sum / (o.count * o.annotators), (o.level_min + o.level_max) / 2, 0.01);
}

TEST(Synthetic, ImagesAreCtLike) {
  const SynthOptions o = small(60, 96);
  int64_t solid_clear = 0;
  for (int64_t i = 0; i < o.count; ++i) {
    const SynthSample s = synth_sample(o, i);
    EXPECT_GE(s.image.min().item<float>(), -1024);
    EXPECT_LE(s.image.max().item<float>(), 3071);
    const at::Tensor lung = s.image.masked_select(torch::maximum(s.nodule, s.attached).lt(0.01));
    const float lung_median = lung.median().item<float>();
    EXPECT_GT(lung_median, -950) << i;
    EXPECT_LT(lung_median, -700) << i;
    const auto extra = nlohmann::json::parse(s.meta.extra_json);
    if (extra["solid"].get<bool>() && !extra["equivocal"].get<bool>()) {
      const at::Tensor core_pixels = s.image.masked_select(s.nodule.gt(0.95));
      if (core_pixels.numel() < 4) continue;
      ++solid_clear;
      const float core = core_pixels.mean().item<float>();
      EXPECT_GT(core - lung_median, 600) << "solid nodule contrast, sample " << i;
    }
  }
  EXPECT_GT(solid_clear, 10);
}

// Reference: docs/lidc_reader_stats.md (psam data lidc-stats over all 1018 LIDC-IDRI CT reads),
// per slice sample: pairwise IoU of readers who both outlined mean 0.707, median 0.733; over all
// pairs 0.502; empty reader masks 0.372; slices outlined by 1/2/3/4 of the 4 readers 31.5 / 18.1
// / 18.0 / 32.4 %. The bands keep the defaults from drifting away from the real readers.
TEST(Synthetic, DefaultsReproduceLidcReaderStatistics) {
  SynthOptions o;
  o.count = 500;
  o.oracle_draws = 0;
  ASSERT_EQ(o.annotators, 4);
  AnnotatorStatsAccumulator acc;
  std::vector<double> ious;
  std::array<int64_t, 5> outlined_by{};
  for (int64_t i = 0; i < o.count; ++i) {
    const at::Tensor masks = synth_sample(o, i).masks.to(torch::kBool);
    acc.add(masks.unsqueeze(0));
    const at::Tensor marked = masks.flatten(1).any(1);
    ++outlined_by[marked.sum().item<int64_t>()];
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t l = k + 1; l < 4; ++l)
        if (marked[k].item<bool>() && marked[l].item<bool>())
          ious.push_back((masks[k] & masks[l]).sum().item<double>() /
                         (masks[k] | masks[l]).sum().item<double>());
  }
  const AnnotatorStats s = acc.result();
  EXPECT_NEAR(s.pairwise_iou_marked, 0.707, 0.03);
  EXPECT_NEAR(s.pairwise_iou_all, 0.502, 0.03);
  EXPECT_NEAR(s.empty_share, 0.372, 0.03);
  EXPECT_EQ(s.all_empty_share, 0);
  std::nth_element(ious.begin(), ious.begin() + ious.size() / 2, ious.end());
  EXPECT_NEAR(ious[ious.size() / 2], 0.733, 0.04);
  const double real_share[5] = {0, 0.315, 0.181, 0.180, 0.324};
  for (int c = 1; c <= 4; ++c)
    EXPECT_NEAR(static_cast<double>(outlined_by[c]) / o.count, real_share[c], 0.06) << c;
}

TEST(Synthetic, RejectsBadOptions) {
  SynthOptions o;
  o.level_min = 0.9;
  o.level_max = 0.5;
  EXPECT_THROW(validate(o), Error);
  o = SynthOptions{};
  o.empty_prob_equivocal = 1.0;  // with require_marked nobody could ever mark it
  EXPECT_THROW(validate(o), Error);
  o.require_marked = false;
  EXPECT_NO_THROW(validate(o));
  o = SynthOptions{};
  o.radius_min = 0;
  EXPECT_THROW(validate(o), Error);
  o = SynthOptions{};
  o.count = 0;
  EXPECT_THROW(validate(o), Error);
  o = SynthOptions{};
  o.width = 8;
  EXPECT_THROW(validate(o), Error);
  o = SynthOptions{};
  o.height = -1;
  EXPECT_THROW(validate(o), Error);
}

}  // namespace
}  // namespace psam::data
