#include "metrics_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace psam::cli {

std::string metrics_table(const std::vector<std::string>& labels,
                          const std::vector<eval::CaseMetrics>& cases,
                          const eval::MetricSummary& summary) {
  size_t label_width = 4;  // "mean"
  for (const auto& l : labels) label_width = std::max(label_width, l.size());
  std::vector<size_t> widths;
  std::string out = fmt::format("{:<{}}", "case", label_width);
  for (const auto& name : summary.names) {
    widths.push_back(std::max<size_t>(name.size(), 10));
    out += fmt::format("  {:>{}}", name, widths.back());
  }
  out += "\n";
  const auto row = [&](const std::string& label, const std::vector<double>& values) {
    out += fmt::format("{:<{}}", label, label_width);
    for (size_t k = 0; k < values.size(); ++k) {
      out += std::isnan(values[k]) ? fmt::format("  {:>{}}", "-", widths[k])
                                   : fmt::format("  {:>{}.6f}", values[k], widths[k]);
    }
    out += "\n";
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    std::vector<double> values;
    for (const auto& named : cases[c].scalars()) values.push_back(named.second);
    row(labels[c], values);
  }
  row("mean", summary.mean);
  return out;
}

}  // namespace psam::cli
