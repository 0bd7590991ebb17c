#include "psam/eval/metrics_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace psam::eval {

nlohmann::json number_or_null(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json case_metrics_json(const CaseMetrics& metrics) {
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

nlohmann::json summary_json(const MetricSummary& summary) {
  nlohmann::json mean = nlohmann::json::object();
  nlohmann::json count = nlohmann::json::object();
  for (size_t k = 0; k < summary.names.size(); ++k) {
    mean[summary.names[k]] = number_or_null(summary.mean[k]);
    count[summary.names[k]] = summary.count[k];
  }
  return {{"mean", mean}, {"count", count}};
}

nlohmann::json conventions_json(const MetricOptions& options) {
  const std::string ged = to_string(options.ged_convention);
  return {
      {"ged", ged},
      {"ged_distance", "d = 1 - IoU; squared GED (no square root); all ordered pairs"},
      {"diversity", ged},
      {"annotator_diversity", ged},
      {"hm_iou", to_string(options.hm_iou_convention)},
      {"hm_iou_matching",
       options.hm_iou_matching == HmIouMatching::kBestOfN
           ? "best_of_n (Flow-SSN): each annotator matched to a different sample, min(N, M) "
             "pairs, the other samples unmatched; not comparable with the transport HM-IoU"
           : "transport: each annotator takes N/M samples (MoSE) where M divides N; otherwise "
             "the optimal transport of mass 1/N per sample to 1/M per annotator (lcm(N, M) "
             "copies matched)"},
      {"ncc", "phiseg: eps 1e-8 inside the log, population std, mean over annotators"},
      {"prediction", "mean of samples > 0.5 (ties background)"},
      {"reference",
       "strict majority of annotators (> M/2); *_annotator_mean: mean over annotators"},
      {"empty_vs_empty", "dsc = iou = 1"},
      {"mean", "over the cases where the metric is defined (count)"},
  };
}

}  // namespace psam::eval
