#include "psam/geometry/frame.h"
#include "psam/eval/evaluator.h"
#include "psam/eval/label_text.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval/eval_fixture.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "psam/sam/sam.h"
#include "psam/eval/report.h"
#include "psam/io/image.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::eval {
namespace {

class EvaluatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir();
    test::make_tiny_store(dir_->file("store"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static data::DatasetStore store() { return data::DatasetStore::open(dir_->file("store")); }

  static EvalConfig config() {
    EvalConfig c;
    c.samples = 8;
    c.seed = 5;
    c.bootstrap_resamples = 200;
    c.preprocessing.input_size = 64;
    return c;
  }

  static std::unique_ptr<models::ProbSamModel> model(const std::string& latent_net) {
    torch::manual_seed(3);
    models::ModelConfig config;
    config.prob = test::tiny_prob_sam_config(latent_net);
    auto m = std::make_unique<models::ProbSamModel>(config);
    // Fresh decoders give nearly constant logits; larger output weights make the samples differ
    // from each other and from the annotators, so the metrics are not all degenerate.
    torch::NoGradGuard no_grad;
    for (auto& p : m->net()->sam->mask_decoder->named_parameters())
      if (p.key().find("output_hypernetworks_mlps") != std::string::npos) p.value().mul_(8);
    return m;
  }

  static support::TempDir* dir_;
};
support::TempDir* EvaluatorTest::dir_ = nullptr;

void expect_same_metrics(const CaseMetrics& a, const CaseMetrics& b) {
  const auto sa = a.scalars(), sb = b.scalars();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t k = 0; k < sa.size(); ++k) {
    if (std::isnan(sb[k].second)) {
      EXPECT_TRUE(std::isnan(sa[k].second)) << sa[k].first;
    } else {
      EXPECT_EQ(sa[k].second, sb[k].second) << sa[k].first;
    }
  }
}

// Recomputes every case the documented way, straight from the model and the metrics library:
// the loader's image and union box, N prior samples from a generator seeded by case_seed,
// logits > 0, sigmoid probabilities, evaluate_case against the store's K masks.
TEST_F(EvaluatorTest, MetricsEqualTheLibraryOnTheSameSamples) {
  const auto s = store();
  auto m = model("embedding");
  const auto indices = s.split_indices("test");
  ASSERT_GE(indices.size(), 3u);
  const EvalResult r = evaluate(*m, s, indices, config());
  ASSERT_EQ(r.cases.size(), indices.size());
  EXPECT_EQ(r.source, "model");
  EXPECT_FALSE(r.deterministic);
  EXPECT_TRUE(m->module().is_training());  // the mode is restored

  data::LoaderOptions lo;
  lo.input_size = 64;
  lo.shuffle = false;
  lo.raw_image = true;
  lo.annotators = data::AnnotatorMode::kFixed;
  data::Loader loader(std::make_shared<data::DatasetStore>(store()), indices, lo);
  torch::NoGradGuard no_grad;
  prob::ProbSam& net = m->net();
  net->eval();
  double diversity = 0;
  std::vector<double> geds;
  for (size_t c = 0; c < indices.size(); ++c) {
    const auto batch = loader.next();
    ASSERT_TRUE(batch);
    const int64_t index = indices[c];
    EXPECT_EQ(r.cases[c].index, index);
    EXPECT_EQ(r.cases[c].id, s.meta()[index].id);
    // Samples in the 64 x 64 frame, back to the 32 x 32 store image the official way.
    const auto out = net->sample(net->embed(batch->image), batch->image, batch->box, 8, {64, 64},
                                 at::make_generator<at::CPUGeneratorImpl>(case_seed(5, index)));
    const at::Tensor logits = geometry::frame_to_image(out.samples, 64, {32, 32}).squeeze(1);
    const CaseMetrics expected = evaluate_case((logits > 0).to(torch::kUInt8), s.masks()[index],
                                               logits.sigmoid(), MetricOptions{});
    // Bit equality: the evaluator makes this very decoder call (8 codes and the prior mean in
    // one batch, one thread count); only the per-pixel resize sees 8 masks here and 9 there.
    expect_same_metrics(r.cases[c].metrics, expected);
    diversity += expected.diversity;
    geds.push_back(expected.ged);
  }
  EXPECT_GT(diversity, 0) << "the samples should differ (else the check is weak)";

  double mean = 0;
  for (double g : geds) mean += g / geds.size();
  const MetricStat& ged = r.stat("ged");
  EXPECT_NEAR(ged.mean, mean, 1e-12);
  EXPECT_EQ(ged.count, static_cast<int64_t>(geds.size()));
  const Interval ci = bootstrap_mean_interval(geds, config().bootstrap());
  EXPECT_EQ(ged.ci.low, ci.low);
  EXPECT_EQ(ged.ci.high, ci.high);
  EXPECT_LE(ged.ci.low, ged.mean);
  EXPECT_GE(ged.ci.high, ged.mean);
  EXPECT_THROW(r.stat("accuracy"), Error);
}

// eval.samples: [4, 8]: the n = 4 row is a separate N = 4 evaluation with the same seed, case by
// case and in its means and intervals; the n = 8 row is the headline result.
TEST_F(EvaluatorTest, SeveralSampleCountsScoreTheFirstSamplesOfOneDraw) {
  const auto s = store();
  auto m = model("reference");
  const auto indices = s.split_indices("test");
  EvalConfig several = config();
  several.samples = 8;
  several.sample_counts = {8, 4};
  EvalConfig four = config();
  four.samples = 4;
  const EvalResult r = evaluate(*m, s, indices, several);
  const EvalResult alone = evaluate(*m, s, indices, four);
  ASSERT_EQ(r.counts, (std::vector<int64_t>{4, 8}));
  ASSERT_EQ(r.count_stats.size(), 2u);
  ASSERT_EQ(r.cases.size(), alone.cases.size());
  bool differs = false;
  for (size_t c = 0; c < r.cases.size(); ++c) {
    ASSERT_EQ(r.cases[c].prefixes.size(), 1u);
    expect_same_metrics(r.cases[c].prefixes[0], alone.cases[c].metrics);
    differs = differs || r.cases[c].prefixes[0].ged != r.cases[c].metrics.ged;
  }
  EXPECT_TRUE(differs) << "n = 4 and n = 8 should score differently (else the check is weak)";
  for (size_t k = 0; k < alone.stats.size(); ++k) {
    const MetricStat &a = r.count_stats[0][k], &b = alone.stats[k];
    EXPECT_EQ(a.name, b.name);
    if (std::isnan(b.mean)) continue;
    EXPECT_EQ(a.mean, b.mean) << a.name;
    EXPECT_EQ(a.ci.low, b.ci.low) << a.name;
    EXPECT_EQ(a.ci.high, b.ci.high) << a.name;
    EXPECT_EQ(r.count_stats[1][k].mean, r.stats[k].mean) << a.name;
  }
  // The summary and the CSV carry both.
  const nlohmann::json j = eval_summary_json(r, {});
  EXPECT_EQ(j["sample_counts"], nlohmann::json({4, 8}));
  EXPECT_EQ(j["by_samples"]["4"]["ged"]["mean"].get<double>(), alone.stat("ged").mean);
  EXPECT_NE(per_case_csv(r).find(",ged_n4,"), std::string::npos);

  several.sample_counts = {4, 16};
  EXPECT_THROW(evaluate(*m, s, indices, several), Error);
}

TEST_F(EvaluatorTest, CasesDoNotDependOnWhichOthersAreEvaluated) {
  const auto s = store();
  auto m = model("reference");
  const auto indices = s.split_indices("test");
  const EvalResult all = evaluate(*m, s, indices, config());
  EvalConfig first = config();
  first.max_cases = 1;
  const EvalResult one = evaluate(*m, s, {indices[0]}, first);
  ASSERT_EQ(one.cases.size(), 1u);
  expect_same_metrics(one.cases[0].metrics, all.cases[0].metrics);
  const EvalResult tail = evaluate(*m, s, {indices.begin() + 1, indices.end()}, config());
  expect_same_metrics(tail.cases[0].metrics, all.cases[1].metrics);
}

// One deterministic mask repeated N times: no diversity, GED as for the single mask, and HM-IoU
// becomes the mean IoU with the annotators.
TEST_F(EvaluatorTest, DeterministicModelIsScoredAsItsOneMask) {
  const auto s = store();
  auto m = model("none");
  const auto indices = s.split_indices("test");
  const EvalResult r = evaluate(*m, s, indices, config());
  EXPECT_TRUE(r.deterministic);
  for (const auto& c : r.cases) {
    EXPECT_EQ(c.metrics.diversity, 0.0);
    EXPECT_NEAR(c.metrics.hm_iou, c.metrics.iou_annotator_mean, 1e-6);
  }
  for (size_t c = 0; c < r.figures.size(); ++c) {
    const auto& f = r.figures[c];
    EXPECT_TRUE(f.samples.eq(f.samples[0]).all().item<bool>());
    const CaseMetrics single =
        evaluate_case(f.samples.slice(0, 0, 1), s.masks()[f.index], at::Tensor(), {});
    EXPECT_NEAR(r.cases[c].metrics.ged, single.ged, 1e-12);
    EXPECT_EQ(r.cases[c].metrics.dsc, single.dsc);
  }
}

TEST_F(EvaluatorTest, OracleScoresTheStoredDraws) {
  const auto s = store();
  const auto indices = s.split_indices("test");
  EvalConfig c = config();
  c.samples = 4;
  const EvalResult r = evaluate_oracle(s, indices, c);
  EXPECT_EQ(r.source, "oracle");
  EXPECT_EQ(r.samples, 4);
  for (size_t k = 0; k < indices.size(); ++k) {
    const CaseMetrics expected =
        evaluate_case(s.oracle_masks()[indices[k]].slice(0, 0, 4), s.masks()[indices[k]],
                      at::Tensor(), MetricOptions{});
    expect_same_metrics(r.cases[k].metrics, expected);
  }
  EXPECT_EQ(r.stat("ncc").count, 0);  // no probabilities
  c.samples = 100;                    // more than the 8 draws: all of them
  EXPECT_EQ(evaluate_oracle(s, indices, c).samples, 8);
}

// An attached embedding cache feeds the evaluation: it fills on first use, and its float16
// embeddings give nearly the encoder's samples.
TEST_F(EvaluatorTest, EmbeddingCacheReplacesTheEncoder) {
  const auto s = store();
  auto m = model("embedding");
  const auto indices = s.split_indices("test");
  data::LoaderOptions pixels = config().preprocessing;
  m->prepare_loader(pixels, false);
  const auto cache = models::open_embedding_cache(*m, s, pixels, dir_->file("cache"));
  ASSERT_NE(cache, nullptr);
  m->set_embedding_cache(cache.get());
  const EvalResult cached = evaluate(*m, s, indices, config());
  for (int64_t index : indices) EXPECT_TRUE(cache->has(index)) << index;
  EXPECT_EQ(cache->filled(), static_cast<int64_t>(indices.size()));
  m->set_embedding_cache(nullptr);
  const EvalResult direct = evaluate(*m, s, indices, config());
  for (size_t k = 0; k < indices.size(); ++k)
    EXPECT_NEAR(cached.cases[k].metrics.ged, direct.cases[k].metrics.ged, 0.05);
}

TEST_F(EvaluatorTest, BadConfigsAreOneLineErrors) {
  const auto s = store();
  auto m = model("none");
  const auto indices = s.split_indices("test");
  EvalConfig c = config();
  c.samples = 0;
  EXPECT_THROW(evaluate(*m, s, indices, c), Error);
  c = config();
  c.prompt = data::PromptSource::kAnnotator;
  c.prompt_annotator = 4;
  EXPECT_THROW(evaluate(*m, s, indices, c), Error);
  EXPECT_THROW(evaluate(*m, s, {}, config()), Error);
  c.prompt_annotator = 2;  // a valid annotator prompt works
  EXPECT_EQ(evaluate(*m, s, indices, c).cases.size(), indices.size());
}

// Training's validation hands the evaluator the loader options the method already prepared; for
// a method without a SAM frame (prob_unet) that is input_size 0, and it scores as from the
// run's raw options.
TEST_F(EvaluatorTest, FramelessMethodTakesItsPreparedOptions) {
  const auto s = store();
  torch::manual_seed(4);
  models::ModelConfig unet;
  unet.kind = "prob_unet";
  unet.prob_unet.num_filters = {4, 8};
  unet.prob_unet.convs_per_block = 1;
  const auto m = models::build_model(unet, torch::kCPU);
  const auto indices = s.split_indices("test");
  EvalConfig prepared = config();
  m->prepare_loader(prepared.preprocessing, /*training=*/false);
  ASSERT_EQ(prepared.preprocessing.input_size, 0);
  const EvalResult a = evaluate(*m, s, indices, prepared);
  const EvalResult b = evaluate(*m, s, indices, config());
  ASSERT_EQ(a.cases.size(), indices.size());
  for (size_t k = 0; k < indices.size(); ++k)
    expect_same_metrics(a.cases[k].metrics, b.cases[k].metrics);
  prepared.preprocessing.input_size = -1;
  EXPECT_THROW(evaluate(*m, s, indices, prepared), Error);
}

TEST_F(EvaluatorTest, ReportFilesHoldTheResult) {
  const auto s = store();
  auto m = model("embedding");
  EvalConfig c = config();
  c.figure_cases = 2;
  const EvalResult r = evaluate(*m, s, s.split_indices("test"), c);
  ASSERT_EQ(r.figures.size(), 2u);
  const std::string out = dir_->file("report");
  write_eval_report(r, out, {{"checkpoint", "x.pt"}});

  std::ifstream summary_file(out + "/summary.json");
  const auto summary = nlohmann::json::parse(summary_file);
  EXPECT_EQ(summary["model"]["checkpoint"], "x.pt");
  EXPECT_EQ(summary["cases"], r.cases.size());
  EXPECT_EQ(summary["samples"], 8);
  EXPECT_EQ(summary["conventions"]["ged"], "phiseg");
  for (const auto& stat : r.stats) {
    const auto& j = summary["metrics"][stat.name];
    EXPECT_EQ(j["count"], stat.count) << stat.name;
    if (stat.count == 0) {
      EXPECT_TRUE(j["mean"].is_null()) << stat.name;
      continue;
    }
    EXPECT_EQ(j["mean"].get<double>(), stat.mean) << stat.name;
    EXPECT_EQ(j["ci"][0].get<double>(), stat.ci.low) << stat.name;
    EXPECT_EQ(j["ci"][1].get<double>(), stat.ci.high) << stat.name;
  }

  std::ifstream csv(out + "/per_case.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("index,id,ged,hm_iou,", 0), 0u) << line;
  size_t rows = 0;
  while (std::getline(csv, line)) {
    const auto& expected = r.cases[rows++];
    std::stringstream fields(line);
    std::string index, id, ged;
    std::getline(fields, index, ',');
    std::getline(fields, id, ',');
    std::getline(fields, ged, ',');
    EXPECT_EQ(std::stoll(index), expected.index);
    EXPECT_EQ(id, "\"" + expected.id + "\"");
    EXPECT_EQ(std::stod(ged), expected.metrics.ged);  // round-trip precision
  }
  EXPECT_EQ(rows, r.cases.size());

  // A row of column labels, then 2 rows of 1 image + 4 annotators + 4 samples + mean +
  // uncertainty tiles, 32 px enlarged x3.
  const at::Tensor png = io::read_image_rgb(out + "/samples.png");
  EXPECT_EQ(png.size(0), kLabelStripHeight + 2 + 2 * 96 + 2);
  EXPECT_EQ(png.size(1), 11 * 96 + 10 * 2);
  // Every column has its label: black ink in the strip above each tile, exactly the label's
  // glyphs ("rater 1" above the second tile).
  for (int64_t column = 0; column < 11; ++column) {
    const at::Tensor strip = png.slice(0, 0, kLabelStripHeight).slice(1, column * 98, column * 98 + 96);
    EXPECT_EQ(strip.min().item<int64_t>(), 0) << "column " << column;
  }
  const at::Tensor rater = png.slice(0, 0, kLabelStripHeight).slice(1, 98, 98 + 96).select(2, 0);
  EXPECT_TRUE(torch::equal(rater < 128, label_strip("rater 1", 96, true)[0] < 0.5));

  const std::string table = comparison_table({{"prob", summary}, {"again", summary}});
  EXPECT_NE(table.find("GED"), std::string::npos);
  EXPECT_NE(table.find(fmt::format("{:.4f}", r.stat("ged").mean)), std::string::npos) << table;
}

}  // namespace
}  // namespace psam::eval
