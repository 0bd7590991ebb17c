// Statistics over training runs (seeds) of one method: the t-interval of the runs' means, and the
// paired difference to a baseline pooled over seeds (psam compare). A run on another machine
// (BLAS kernel, thread count, libtorch build) differs like another seed does, so these intervals
// are the spread a reader should expect, not the bootstrap over cases of one run.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "psam/eval/bootstrap.h"

namespace psam::eval {

// The two-sided `level` quantile of Student's t with `df` degrees of freedom: t such that
// P(|T| <= t) = level (df 2, level 0.95: 4.3027). Computed from the regularised incomplete beta
// function, not a table. psam::Error for df < 1 or a level outside (0, 1).
double t_quantile(double df, double level);

struct RunsInterval {
  double mean = 0.0, sd = 0.0;  // sd: the sample standard deviation over runs
  Interval ci{0.0, 0.0};        // mean ± t * sd / sqrt(runs); NaN with fewer than 2 runs
  int64_t runs = 0;             // the values that were not NaN
};
// Over the runs' values (NaN ones skipped); mean NaN when none is left.
RunsInterval across_runs(const std::vector<double>& values, double level = 0.95);

// Per-case values of one run: case index -> value (a metric of per_case.csv).
using RunCases = std::map<int64_t, double>;

struct PooledDifference {
  double mean = 0.0;
  Interval ci{0.0, 0.0};
  int64_t cases = 0;  // cases scored by every run of both sides (NaN values left out)
};
// Method minus baseline per case, each averaged over the seeds (method[s] against baseline[s];
// one baseline run stands for every seed of a baseline that learns nothing), then the mean over
// cases with its percentile bootstrap over cases. psam::Error when the run lists are empty or
// their lengths differ (other than a single baseline run).
PooledDifference pooled_paired_difference(const std::vector<RunCases>& method,
                                          const std::vector<RunCases>& baseline,
                                          const BootstrapOptions& options = {});

}  // namespace psam::eval
