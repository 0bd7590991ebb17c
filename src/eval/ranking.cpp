#include "psam/eval/ranking.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "psam/util/error.h"

namespace psam::eval {
namespace {

void check_lengths(const std::vector<double>& x, const std::vector<double>& y, const char* what) {
  PSAM_CHECK(x.size() == y.size(), fmt::format("{}: {} values against {}", what, x.size(),
                                               y.size()));
}

// Ranks 1..n, tied values sharing their mean rank.
std::vector<double> mean_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mean;
    i = j + 1;
  }
  return rank;
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_lengths(x, y, "pearson");
  const size_t n = x.size();
  if (n < 2) return NAN;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return NAN;
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_lengths(x, y, "spearman");
  return pearson(mean_ranks(x), mean_ranks(y));
}

double mean_absolute_error(const std::vector<double>& x, const std::vector<double>& y) {
  check_lengths(x, y, "mean_absolute_error");
  if (x.empty()) return NAN;
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) sum += std::abs(x[i] - y[i]);
  return sum / static_cast<double>(x.size());
}

double auroc(const std::vector<double>& score, const std::vector<bool>& positive) {
  PSAM_CHECK(score.size() == positive.size(),
             fmt::format("auroc: {} scores against {} labels", score.size(), positive.size()));
  // Mann-Whitney: the rank sum of the positives, mean ranks for ties.
  const std::vector<double> rank = mean_ranks(score);
  double rank_sum = 0, npos = 0;
  for (size_t i = 0; i < score.size(); ++i) {
    if (!positive[i]) continue;
    rank_sum += rank[i];
    ++npos;
  }
  const double nneg = static_cast<double>(score.size()) - npos;
  if (npos == 0 || nneg == 0) return NAN;
  return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

RankingStats ranking_stats(const std::vector<double>& predicted, const std::vector<double>& actual,
                           double failure_below) {
  check_lengths(predicted, actual, "ranking_stats");
  RankingStats s;
  s.count = static_cast<int64_t>(predicted.size());
  s.spearman = spearman(predicted, actual);
  s.pearson = pearson(predicted, actual);
  s.mae = mean_absolute_error(predicted, actual);
  std::vector<double> alarm(predicted.size());
  std::vector<bool> failed(predicted.size());
  for (size_t i = 0; i < predicted.size(); ++i) {
    alarm[i] = -predicted[i];
    failed[i] = actual[i] < failure_below;
  }
  s.auroc = auroc(alarm, failed);
  return s;
}

}  // namespace psam::eval
