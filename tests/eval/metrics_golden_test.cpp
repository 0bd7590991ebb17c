// Every value of every case in ../shared/golden/metrics_cases.pth (PHiSeg's and MoSE's own
// metric code) reproduced to 1e-6 relative, debug matrices included.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "eval/golden_metrics.h"
#include "psam/eval/metrics.h"

namespace psam::eval {
namespace {

using test::GoldenMetrics;
using test::near_golden;

class MetricsGolden : public ::testing::Test {
 protected:
  static const GoldenMetrics& golden() {
    static const GoldenMetrics g;
    return g;
  }
};

TEST_F(MetricsGolden, FileHasCases) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  EXPECT_GE(golden().num_cases(), 1);
}

TEST_F(MetricsGolden, DistanceMatricesBothConventions) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    SCOPED_TRACE("case" + std::to_string(c));
    for (auto conv : {IouConvention::kPhiseg, IouConvention::kMose}) {
      SCOPED_TRACE(to_string(conv));
      const auto d =
          pairwise_distances(golden().get(c, "samples"), golden().get(c, "annotators"), conv);
      const std::string suffix = "_" + to_string(conv);
      EXPECT_TRUE(near_golden(d.ss, golden().get(c, "dist_ss" + suffix)));
      EXPECT_TRUE(near_golden(d.sy, golden().get(c, "dist_sy" + suffix)));
      EXPECT_TRUE(near_golden(d.yy, golden().get(c, "dist_yy" + suffix)));
      // The single-pair entry point agrees with the stacked one.
      EXPECT_TRUE(near_golden(
          iou_distance_matrix(golden().get(c, "samples"), golden().get(c, "annotators"), conv),
          golden().get(c, "dist_sy" + suffix)));
    }
  }
}

TEST_F(MetricsGolden, GedBothConventions) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    SCOPED_TRACE("case" + std::to_string(c));
    for (auto conv : {IouConvention::kPhiseg, IouConvention::kMose}) {
      const auto d =
          pairwise_distances(golden().get(c, "samples"), golden().get(c, "annotators"), conv);
      EXPECT_TRUE(
          near_golden(generalized_energy_distance(d), golden().scalar(c, "ged_" + to_string(conv))))
          << to_string(conv);
    }
  }
}

TEST_F(MetricsGolden, HungarianMatchedIou) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    SCOPED_TRACE("case" + std::to_string(c));
    const at::Tensor sy = iou_distance_matrix(golden().get(c, "samples"),
                                              golden().get(c, "annotators"), IouConvention::kMose);
    EXPECT_TRUE(near_golden(hungarian_matched_iou(sy), golden().scalar(c, "hm_iou_mose")));
  }
}

TEST_F(MetricsGolden, VarianceNccAndPerAnnotator) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    SCOPED_TRACE("case" + std::to_string(c));
    const NccResult ncc = variance_ncc(golden().get(c, "probs"), golden().get(c, "annotators"));
    EXPECT_TRUE(near_golden(ncc.value, golden().scalar(c, "ncc_phiseg")));
    EXPECT_TRUE(near_golden(torch::tensor(ncc.per_annotator, torch::kDouble),
                            golden().get(c, "ncc_phiseg_per_annotator")));
  }
}

TEST_F(MetricsGolden, EvaluateCaseDefaultsArePhisegGedAndMoseHmIou) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    SCOPED_TRACE("case" + std::to_string(c));
    const CaseMetrics m = evaluate_case(golden().get(c, "samples"), golden().get(c, "annotators"),
                                        golden().get(c, "probs"));
    EXPECT_TRUE(near_golden(m.ged, golden().scalar(c, "ged_phiseg")));
    EXPECT_TRUE(near_golden(m.hm_iou, golden().scalar(c, "hm_iou_mose")));
    EXPECT_TRUE(near_golden(m.ncc, golden().scalar(c, "ncc_phiseg")));
    // Diversity is the GED's sample term: the mean of the reference d(s_i, s_k) matrix.
    EXPECT_TRUE(near_golden(m.diversity, golden().get(c, "dist_ss_phiseg").mean().item<double>()));
    // The annotators' diversity is its annotator term: the mean of the reference d(y_j, y_l).
    EXPECT_TRUE(near_golden(m.annotator_diversity,
                            golden().get(c, "dist_yy_phiseg").mean().item<double>()));
    EXPECT_TRUE(near_golden(torch::tensor(m.ncc_per_annotator, torch::kDouble),
                            golden().get(c, "ncc_phiseg_per_annotator")));

    MetricOptions mose;
    mose.ged_convention = IouConvention::kMose;
    const CaseMetrics mm = evaluate_case(golden().get(c, "samples"), golden().get(c, "annotators"),
                                         golden().get(c, "probs"), mose);
    EXPECT_TRUE(near_golden(mm.ged, golden().scalar(c, "ged_mose")));
    EXPECT_TRUE(near_golden(mm.hm_iou, golden().scalar(c, "hm_iou_mose")));
    EXPECT_TRUE(near_golden(mm.diversity, golden().get(c, "dist_ss_mose").mean().item<double>()));
    EXPECT_TRUE(near_golden(mm.annotator_diversity,
                            golden().get(c, "dist_yy_mose").mean().item<double>()));
  }
}

}  // namespace
}  // namespace psam::eval
