// How well predicted scores track real values: the numbers psam eval reports for a method that
// predicts the quality of its own masks (USAM's heads, SAM's IoU head). All in float64; every
// function returns NaN where its value is undefined (fewer than two values, a constant input,
// one class only), never throws on such input.
#pragma once

#include <vector>

namespace psam::eval {

// Pearson's correlation coefficient of x and y (equal lengths; psam::Error otherwise).
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman's rank correlation: Pearson's of the ranks, ties given their mean rank.
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// Mean of |x_i - y_i|.
double mean_absolute_error(const std::vector<double>& x, const std::vector<double>& y);
// Area under the ROC curve of `score` for telling positives from negatives: the probability
// that a random positive scores above a random negative, ties counting one half (the
// Mann-Whitney statistic).
double auroc(const std::vector<double>& score, const std::vector<bool>& positive);

// The four numbers for a predictor of an IoU (or of a gap): Spearman, Pearson and MAE of the
// predicted against the actual values, and the AUROC of -predicted for detecting failures
// (actual < failure_below).
struct RankingStats {
  int64_t count = 0;
  double spearman = 0.0;
  double pearson = 0.0;
  double mae = 0.0;
  double auroc = 0.0;
};
RankingStats ranking_stats(const std::vector<double>& predicted, const std::vector<double>& actual,
                           double failure_below = 0.5);

}  // namespace psam::eval
