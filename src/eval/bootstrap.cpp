#include "psam/eval/bootstrap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "psam/util/error.h"

namespace psam::eval {
namespace {

// Uniform integer in [0, n) by rejection from the 64-bit engine: std::uniform_int_distribution
// is implementation-defined, and a seeded interval must not change with the standard library.
uint64_t uniform_index(std::mt19937_64& engine, uint64_t n) {
  const uint64_t limit = engine.max() - (engine.max() % n + 1) % n;  // largest multiple of n, - 1
  uint64_t x;
  do {
    x = engine();
  } while (x > limit);
  return x % n;
}

// Quantile q of sorted values, linear interpolation between order statistics.
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

Interval bootstrap_mean_interval(const std::vector<double>& values,
                                 const BootstrapOptions& options) {
  PSAM_CHECK(!values.empty(), "bootstrap: no values to resample");
  PSAM_CHECK(options.resamples >= 1,
             fmt::format("bootstrap: resamples must be >= 1, got {}", options.resamples));
  PSAM_CHECK(options.level > 0.0 && options.level < 1.0,
             fmt::format("bootstrap: level must be in (0,1), got {}", options.level));
  for (size_t i = 0; i < values.size(); ++i) {
    PSAM_CHECK(std::isfinite(values[i]),
               fmt::format("bootstrap: value {} is not finite ({})", i, values[i]));
  }
  // A constant's interval is the constant (resample means could sit a rounding step off it).
  if (std::all_of(values.begin(), values.end(), [&](double v) { return v == values[0]; })) {
    return {values[0], values[0]};
  }
  const uint64_t n = values.size();
  std::mt19937_64 engine(options.seed);
  std::vector<double> means(options.resamples);
  for (double& mean : means) {
    double sum = 0.0;
    for (uint64_t k = 0; k < n; ++k) sum += values[uniform_index(engine, n)];
    mean = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  const double tail = (1.0 - options.level) / 2.0;
  return {quantile(means, tail), quantile(means, 1.0 - tail)};
}

}  // namespace psam::eval
