// linear_assignment against independent exact solvers: every permutation for n <= 7, and a
// dynamic programme over subsets of columns for n up to 14.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include "psam/eval/assignment.h"
#include "psam/util/error.h"

namespace psam::eval {
namespace {

double assignment_cost(const at::Tensor& cost, const std::vector<int64_t>& column) {
  const auto c = cost.accessor<double, 2>();
  double total = 0.0;
  for (size_t i = 0; i < column.size(); ++i) total += c[static_cast<int64_t>(i)][column[i]];
  return total;
}

bool is_permutation(std::vector<int64_t> column) {
  std::sort(column.begin(), column.end());
  for (size_t i = 0; i < column.size(); ++i) {
    if (column[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

double brute_force_min(const at::Tensor& cost) {
  std::vector<int64_t> perm(cost.size(0));
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    best = std::min(best, assignment_cost(cost, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// best[mask] = cheapest assignment of rows 0..popcount(mask)-1 to the columns in mask.
double subset_dp_min(const at::Tensor& cost) {
  const int n = static_cast<int>(cost.size(0));
  const auto c = cost.accessor<double, 2>();
  std::vector<double> best(size_t{1} << n, std::numeric_limits<double>::infinity());
  best[0] = 0.0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    const int row = __builtin_popcount(mask);
    if (row == n) continue;
    for (int j = 0; j < n; ++j) {
      if (mask & (1u << j)) continue;
      best[mask | (1u << j)] = std::min(best[mask | (1u << j)], best[mask] + c[row][j]);
    }
  }
  return best.back();
}

TEST(LinearAssignment, MatchesBruteForceOnRandomMatrices) {
  torch::manual_seed(7);
  for (int64_t n = 1; n <= 7; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      const at::Tensor cost = torch::rand({n, n}, torch::kDouble) * 10 - 3;
      const auto column = linear_assignment(cost);
      ASSERT_EQ(static_cast<int64_t>(column.size()), n);
      ASSERT_TRUE(is_permutation(column));
      EXPECT_NEAR(assignment_cost(cost, column), brute_force_min(cost), 1e-12) << cost;
    }
  }
}

TEST(LinearAssignment, MatchesBruteForceWithManyTies) {
  // Small integer costs and repeated columns (as HM-IoU's tiled matrix has) make many optimal
  // matchings; the solver must still reach the optimal value.
  torch::manual_seed(11);
  for (int64_t n = 2; n <= 7; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      const at::Tensor base = torch::randint(0, 3, {n, (n + 1) / 2}, torch::kDouble);
      const at::Tensor cost = base.repeat({1, 2}).slice(1, 0, n).contiguous();
      const auto column = linear_assignment(cost);
      ASSERT_TRUE(is_permutation(column));
      EXPECT_DOUBLE_EQ(assignment_cost(cost, column), brute_force_min(cost)) << cost;
    }
  }
}

TEST(LinearAssignment, MatchesSubsetDynamicProgrammeUpTo14) {
  torch::manual_seed(3);
  for (int64_t n = 8; n <= 14; ++n) {
    for (int trial = 0; trial < 3; ++trial) {
      const at::Tensor cost = torch::rand({n, n}, torch::kDouble);
      const auto column = linear_assignment(cost);
      ASSERT_TRUE(is_permutation(column));
      EXPECT_NEAR(assignment_cost(cost, column), subset_dp_min(cost), 1e-12);
    }
  }
}

TEST(LinearAssignment, KnownSmallProblem) {
  // Rows take columns 1, 0, 2: 1 + 2 + 2 = 5, the unique optimum.
  const at::Tensor cost =
      torch::tensor({4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0}, torch::kDouble).reshape({3, 3});
  EXPECT_EQ(linear_assignment(cost), (std::vector<int64_t>{1, 0, 2}));
}

TEST(LinearAssignment, AcceptsFloatAndEmpty) {
  EXPECT_TRUE(linear_assignment(torch::zeros({0, 0})).empty());
  const at::Tensor cost = torch::tensor({{0.f, 1.f}, {1.f, 0.f}});
  EXPECT_EQ(linear_assignment(cost), (std::vector<int64_t>{0, 1}));
}

TEST(LinearAssignment, RejectsBadInput) {
  EXPECT_THROW(linear_assignment(torch::zeros({2, 3})), psam::Error);
  EXPECT_THROW(linear_assignment(torch::zeros({4})), psam::Error);
  EXPECT_THROW(linear_assignment(torch::zeros({2, 2}, torch::kLong)), psam::Error);
  at::Tensor with_nan = torch::zeros({2, 2});
  with_nan[0][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(linear_assignment(with_nan), psam::Error);
}

}  // namespace
}  // namespace psam::eval
