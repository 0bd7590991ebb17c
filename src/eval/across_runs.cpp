#include "psam/eval/across_runs.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "psam/util/error.h"

namespace psam::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of the regularised incomplete beta function (modified Lentz).
double beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double f = d;
  for (int m = 1; m <= 1000; ++m) {
    const double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    for (int step = 0; step < 2; ++step) {
      d = 1.0 + num * d;
      if (std::abs(d) < kTiny) d = kTiny;
      c = 1.0 + num / c;
      if (std::abs(c) < kTiny) c = kTiny;
      d = 1.0 / d;
      const double delta = c * d;
      f *= delta;
      if (step == 1 && std::abs(delta - 1.0) < kEps) return f;
      num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    }
  }
  return f;
}

// I_x(a, b), the regularised incomplete beta function.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1.0 - front * beta_fraction(b, a, 1.0 - x) / b;
}

// P(|T| <= t) for Student's t with df degrees of freedom.
double t_central_probability(double t, double df) {
  return 1.0 - incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

}  // namespace

double t_quantile(double df, double level) {
  PSAM_CHECK(df >= 1, fmt::format("t_quantile: df must be >= 1, got {}", df));
  PSAM_CHECK(level > 0 && level < 1, fmt::format("t_quantile: level must be in (0, 1), got {}",
                                                 level));
  double low = 0.0, high = 1.0;
  while (t_central_probability(high, df) < level) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-13 * high; ++i) {
    const double mid = 0.5 * (low + high);
    (t_central_probability(mid, df) < level ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

RunsInterval across_runs(const std::vector<double>& values, double level) {
  std::vector<double> v;
  for (const double x : values)
    if (!std::isnan(x)) v.push_back(x);
  RunsInterval r;
  r.runs = static_cast<int64_t>(v.size());
  if (v.empty()) {
    r.mean = r.sd = kNaN;
    r.ci = {kNaN, kNaN};
    return r;
  }
  double sum = 0.0;
  for (const double x : v) sum += x;
  r.mean = sum / static_cast<double>(v.size());
  if (v.size() < 2) {
    r.sd = 0.0;
    r.ci = {kNaN, kNaN};
    return r;
  }
  double ss = 0.0;
  for (const double x : v) ss += (x - r.mean) * (x - r.mean);
  r.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  const double half = t_quantile(static_cast<double>(v.size() - 1), level) * r.sd /
                      std::sqrt(static_cast<double>(v.size()));
  r.ci = {r.mean - half, r.mean + half};
  return r;
}

PooledDifference pooled_paired_difference(const std::vector<RunCases>& method,
                                          const std::vector<RunCases>& baseline,
                                          const BootstrapOptions& options) {
  PSAM_CHECK(!method.empty() && !baseline.empty(),
             "pooled_paired_difference: no runs of the method or of the baseline");
  PSAM_CHECK(baseline.size() == 1 || baseline.size() == method.size(),
             fmt::format("pooled_paired_difference: {} method runs against {} baseline runs "
                         "(expected one baseline run per seed, or one for all)",
                         method.size(), baseline.size()));
  std::vector<double> differences;
  for (const auto& [index, first] : method.front()) {
    double sum = 0.0;
    bool everywhere = true;
    for (size_t s = 0; s < method.size() && everywhere; ++s) {
      const RunCases& base = baseline[baseline.size() == 1 ? 0 : s];
      const auto a = method[s].find(index);
      const auto b = base.find(index);
      everywhere = a != method[s].end() && b != base.end() && !std::isnan(a->second) &&
                   !std::isnan(b->second);
      if (everywhere) sum += a->second - b->second;
    }
    if (everywhere) differences.push_back(sum / static_cast<double>(method.size()));
  }
  PooledDifference p;
  p.cases = static_cast<int64_t>(differences.size());
  if (differences.empty()) {
    p.mean = kNaN;
    p.ci = {kNaN, kNaN};
    return p;
  }
  double sum = 0.0;
  for (const double d : differences) sum += d;
  p.mean = sum / static_cast<double>(differences.size());
  p.ci = bootstrap_mean_interval(differences, options);
  return p;
}

}  // namespace psam::eval
