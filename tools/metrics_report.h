// JSON and text renderings of per-case metrics and their summary, shared by the commands that
// report them, so every report names the metrics and conventions the same way.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "psam/eval/metrics.h"

namespace psam::cli {

// {"ged": .., "hm_iou": .., ..., "ncc_per_annotator": [..] or null}; NaN -> null.
nlohmann::json case_metrics_json(const eval::CaseMetrics& metrics);
// {"mean": {...}, "count": {...}} over the cases where each metric is defined.
nlohmann::json summary_json(const eval::MetricSummary& summary);
// How each metric was computed (names of the conventions, thresholds, epsilons).
nlohmann::json conventions_json(const eval::MetricOptions& options);

// A fixed-width table: one row per case (labelled by `labels`), then the mean row; NaN is "-".
std::string metrics_table(const std::vector<std::string>& labels,
                          const std::vector<eval::CaseMetrics>& cases,
                          const eval::MetricSummary& summary);

}  // namespace psam::cli
