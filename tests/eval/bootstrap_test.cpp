#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "psam/eval/bootstrap.h"
#include "psam/util/error.h"

namespace psam::eval {
namespace {

std::vector<double> normal_values(size_t n, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.4, 0.1);
  std::vector<double> v(n);
  for (double& x : v) x = normal(engine);
  return v;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

TEST(Bootstrap, IntervalContainsTheMean) {
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const auto v = normal_values(40, seed);
    const Interval ci = bootstrap_mean_interval(v, {1000, 0.95, seed});
    EXPECT_LT(ci.low, mean(v));
    EXPECT_GT(ci.high, mean(v));
  }
}

TEST(Bootstrap, WidthMatchesTheStandardErrorAndShrinksWithMoreCases) {
  double previous_width = INFINITY;
  for (size_t n : {10, 40, 160, 640}) {
    const auto v = normal_values(n, 100 + n);
    const Interval ci = bootstrap_mean_interval(v, {2000, 0.95, 1});
    const double width = ci.high - ci.low;
    EXPECT_LT(width, previous_width) << n;
    previous_width = width;
    // Normal theory: width ~ 2 * 1.96 * sd / sqrt(n), sd = 0.1 (the bootstrap uses the plug-in
    // sd, a little smaller for small n; 25% covers that and the resampling noise).
    const double expected = 2 * 1.96 * 0.1 / std::sqrt(static_cast<double>(n));
    EXPECT_NEAR(width, expected, 0.25 * expected) << n;
  }
}

TEST(Bootstrap, DeterministicForASeed) {
  const auto v = normal_values(25, 9);
  const Interval a = bootstrap_mean_interval(v, {500, 0.95, 42});
  const Interval b = bootstrap_mean_interval(v, {500, 0.95, 42});
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  const Interval c = bootstrap_mean_interval(v, {500, 0.95, 43});
  EXPECT_TRUE(a.low != c.low || a.high != c.high);
}

TEST(Bootstrap, HigherLevelGivesWiderInterval) {
  const auto v = normal_values(50, 3);
  const Interval narrow = bootstrap_mean_interval(v, {1000, 0.5, 7});
  const Interval wide = bootstrap_mean_interval(v, {1000, 0.99, 7});
  EXPECT_LT(wide.low, narrow.low);
  EXPECT_GT(wide.high, narrow.high);
}

TEST(Bootstrap, TwoValuesHaveKnownExtremes) {
  // Resample means of {0, 1} are k/2 with k ~ Binomial(2, 1/2): a 99.9% interval spans 0..1.
  const Interval ci = bootstrap_mean_interval({0.0, 1.0}, {4000, 0.999, 5});
  EXPECT_EQ(ci.low, 0.0);
  EXPECT_EQ(ci.high, 1.0);
}

TEST(Bootstrap, DegenerateCases) {
  const Interval one = bootstrap_mean_interval({0.37});
  EXPECT_EQ(one.low, 0.37);
  EXPECT_EQ(one.high, 0.37);
  const Interval same = bootstrap_mean_interval(std::vector<double>(7, 0.1));
  EXPECT_EQ(same.low, 0.1);
  EXPECT_EQ(same.high, 0.1);
  const Interval single_resample = bootstrap_mean_interval({1.0, 2.0, 3.0}, {1, 0.95, 0});
  EXPECT_EQ(single_resample.low, single_resample.high);
}

TEST(Bootstrap, RejectsBadInput) {
  EXPECT_THROW(bootstrap_mean_interval({}), psam::Error);
  EXPECT_THROW(bootstrap_mean_interval({1.0, NAN}), psam::Error);
  EXPECT_THROW(bootstrap_mean_interval({1.0, 2.0}, {0, 0.95, 0}), psam::Error);
  EXPECT_THROW(bootstrap_mean_interval({1.0, 2.0}, {100, 1.0, 0}), psam::Error);
}

}  // namespace
}  // namespace psam::eval
