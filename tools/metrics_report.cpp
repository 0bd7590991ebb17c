#include "metrics_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace psam::cli {
namespace {

nlohmann::json number_or_null(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

}  // namespace

nlohmann::json case_metrics_json(const eval::CaseMetrics& metrics) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : metrics.scalars()) j[name] = number_or_null(value);
  if (metrics.ncc_per_annotator.empty()) {
    j["ncc_per_annotator"] = nullptr;
  } else {
    j["ncc_per_annotator"] = nlohmann::json::array();
    for (double v : metrics.ncc_per_annotator) j["ncc_per_annotator"].push_back(number_or_null(v));
  }
  return j;
}

nlohmann::json summary_json(const eval::MetricSummary& summary) {
  nlohmann::json mean = nlohmann::json::object();
  nlohmann::json count = nlohmann::json::object();
  for (size_t k = 0; k < summary.names.size(); ++k) {
    mean[summary.names[k]] = number_or_null(summary.mean[k]);
    count[summary.names[k]] = summary.count[k];
  }
  return {{"mean", mean}, {"count", count}};
}

nlohmann::json conventions_json(const eval::MetricOptions& options) {
  const std::string ged = eval::to_string(options.ged_convention);
  return {
      {"ged", ged},
      {"ged_distance", "d = 1 - IoU; squared GED (no square root); all ordered pairs"},
      {"diversity", ged},
      {"hm_iou", eval::to_string(options.hm_iou_convention)},
      {"ncc", "phiseg: eps 1e-8 inside the log, population std, mean over annotators"},
      {"prediction", "mean of samples > 0.5 (ties background)"},
      {"reference",
       "strict majority of annotators (> M/2); *_annotator_mean: mean over annotators"},
      {"empty_vs_empty", "dsc = iou = 1"},
      {"mean", "over the cases where the metric is defined (count)"},
  };
}

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
