#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "psam/eval/ranking.h"
#include "psam/util/error.h"

namespace psam::eval {
namespace {

TEST(Ranking, PearsonMatchesHandComputedValue) {
  // dx = (-1, 0, 1), dy = (-7/3, -1/3, 8/3): sxy = 5, sxx = 2, syy = 38/3.
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 7}), 5 / std::sqrt(2 * 38.0 / 3), 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1, 1e-12);
}

TEST(Ranking, SpearmanUsesMeanRanksForTies) {
  // ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): sxy = 4.5, sxx = 4.5, syy = 5.
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 4.5 / std::sqrt(4.5 * 5), 1e-12);
  // Any increasing relation ranks perfectly, where Pearson's r stays below 1.
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {1, 8, 27, 64}), 1.0);
  EXPECT_LT(pearson({1, 2, 3, 4}, {1, 8, 27, 64}), 0.99);
}

TEST(Ranking, MeanAbsoluteError) {
  EXPECT_DOUBLE_EQ(mean_absolute_error({0, 1, 2}, {1, 1, 0}), 1.0);
}

TEST(Ranking, AurocIsTheMannWhitneyProbability) {
  // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of the 4 pairs are ordered.
  EXPECT_DOUBLE_EQ(auroc({0.1, 0.4, 0.35, 0.8}, {false, false, true, true}), 0.75);
  EXPECT_DOUBLE_EQ(auroc({0.5, 0.5}, {true, false}), 0.5);
  EXPECT_DOUBLE_EQ(auroc({0.9, 0.1}, {true, false}), 1.0);
}

TEST(Ranking, UndefinedValuesAreNan) {
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman({2}, {3})));
  EXPECT_TRUE(std::isnan(mean_absolute_error({}, {})));
  EXPECT_TRUE(std::isnan(auroc({0.2, 0.3}, {true, true})));
  EXPECT_THROW(pearson({1, 2}, {1}), Error);
}

TEST(Ranking, FailureDetectionAlarmsOnLowPredictions) {
  // Case 2 fails (actual IoU 0.4 < 0.5); its prediction 0.3 is below two of the three others.
  const RankingStats s = ranking_stats({0.9, 0.6, 0.3, 0.2}, {0.8, 0.7, 0.4, 0.6});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.auroc, 2.0 / 3);
  EXPECT_NEAR(s.mae, (0.1 + 0.1 + 0.1 + 0.4) / 4, 1e-12);
  EXPECT_NEAR(s.spearman, spearman({0.9, 0.6, 0.3, 0.2}, {0.8, 0.7, 0.4, 0.6}), 1e-15);
}

}  // namespace
}  // namespace psam::eval
