// Statistics over training runs: Student's t quantiles against published table values, the
// t-interval of a hand-computed example, and the pooled paired difference on a constructed
// example with a known answer.
#include "psam/eval/across_runs.h"

#include <gtest/gtest.h>

#include <cmath>

#include "psam/util/error.h"

namespace psam::eval {
namespace {

TEST(AcrossRuns, TQuantilesMatchTheTables) {
  // Two-sided 95% and 99% critical values (any statistics table).
  EXPECT_NEAR(t_quantile(1, 0.95), 12.706204736, 1e-8);
  EXPECT_NEAR(t_quantile(2, 0.95), 4.302652730, 1e-8);
  EXPECT_NEAR(t_quantile(4, 0.95), 2.776445105, 1e-8);
  EXPECT_NEAR(t_quantile(30, 0.95), 2.042272456, 1e-8);
  EXPECT_NEAR(t_quantile(2, 0.99), 9.924843201, 1e-7);
  EXPECT_NEAR(t_quantile(1e7, 0.95), 1.959963985, 1e-6);  // the normal's
  EXPECT_THROW(t_quantile(0.5, 0.95), Error);
  EXPECT_THROW(t_quantile(3, 1.0), Error);
}

TEST(AcrossRuns, TIntervalOfThreeRuns) {
  // Mean 2, sd 1: 2 ± 4.302653 / sqrt(3).
  const RunsInterval r = across_runs({1.0, 2.0, 3.0, std::nan("")});
  EXPECT_EQ(r.runs, 3);
  EXPECT_DOUBLE_EQ(r.mean, 2.0);
  EXPECT_DOUBLE_EQ(r.sd, 1.0);
  EXPECT_NEAR(r.ci.low, 2.0 - 4.302652730 / std::sqrt(3.0), 1e-8);
  EXPECT_NEAR(r.ci.high, 2.0 + 4.302652730 / std::sqrt(3.0), 1e-8);
  const RunsInterval one = across_runs({0.5});
  EXPECT_EQ(one.mean, 0.5);
  EXPECT_TRUE(std::isnan(one.ci.low));
  EXPECT_TRUE(std::isnan(across_runs({}).mean));
}

TEST(AcrossRuns, PooledPairedDifferenceOfAConstructedExample) {
  // Two seeds; the baseline learns nothing (one run). Per case, averaged over seeds:
  // case 1: ((0.5 - 0.1) + (0.3 - 0.1)) / 2 = 0.3; case 2: ((0.7 - 0.2) + (0.9 - 0.2)) / 2 = 0.6;
  // case 3 is missing from seed 1, so it is left out.
  const std::vector<RunCases> method = {{{1, 0.5}, {2, 0.7}, {3, 0.9}}, {{1, 0.3}, {2, 0.9}}};
  const std::vector<RunCases> baseline = {{{1, 0.1}, {2, 0.2}, {3, 0.0}}};
  BootstrapOptions options;
  options.resamples = 4000;
  const PooledDifference p = pooled_paired_difference(method, baseline, options);
  EXPECT_EQ(p.cases, 2);
  EXPECT_NEAR(p.mean, 0.45, 1e-12);
  // Resample means of two cases are 0.3, 0.45 or 0.6 with probabilities 1/4, 1/2, 1/4: the
  // 2.5% and 97.5% quantiles are the extremes.
  EXPECT_NEAR(p.ci.low, 0.3, 1e-12);
  EXPECT_NEAR(p.ci.high, 0.6, 1e-12);
  // One baseline run per seed gives the same here (the baseline is the same in both).
  const PooledDifference q =
      pooled_paired_difference(method, {baseline[0], baseline[0]}, options);
  EXPECT_DOUBLE_EQ(q.mean, p.mean);
  EXPECT_THROW(pooled_paired_difference(method, {baseline[0], baseline[0], baseline[0]}), Error);
  EXPECT_THROW(pooled_paired_difference({}, baseline), Error);
}

}  // namespace
}  // namespace psam::eval
