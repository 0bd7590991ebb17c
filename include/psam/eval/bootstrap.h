// Percentile-bootstrap confidence interval of a mean over cases (e.g. the mean GED of a test
// set), so reports say how much a metric would move with another sample of patients.
#pragma once

#include <cstdint>
#include <vector>

namespace psam::eval {

struct BootstrapOptions {
  int64_t resamples = 1000;  // bootstrap replicates B
  double level = 0.95;       // two-sided coverage
  uint64_t seed = 0;         // same seed and values -> same interval, on every platform
};

struct Interval {
  double low = 0.0;
  double high = 0.0;
};

// Draws B resamples of the n values with replacement, takes each resample's mean and returns the
// (1-level)/2 and (1+level)/2 quantiles of those means (linear interpolation between order
// statistics, numpy's default). values must be finite and non-empty (psam::Error otherwise).
// One value, or all values equal, gives the degenerate interval [value, value].
Interval bootstrap_mean_interval(const std::vector<double>& values,
                                 const BootstrapOptions& options = {});

}  // namespace psam::eval
