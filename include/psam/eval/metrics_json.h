// JSON renderings of per-case metrics, their summary and the conventions used, shared by every
// report (psam eval-masks, psam eval's summary.json), so they name metrics the same way.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "psam/eval/metrics.h"

namespace psam::eval {

// The value, or null for NaN (a metric that is undefined in that case).
nlohmann::json number_or_null(double value);
// {"ged": .., "hm_iou": .., ..., "ncc_per_annotator": [..] or null}; NaN -> null.
nlohmann::json case_metrics_json(const CaseMetrics& metrics);
// {"mean": {...}, "count": {...}} over the cases where each metric is defined.
nlohmann::json summary_json(const MetricSummary& summary);
// How each metric was computed (names of the conventions, thresholds, epsilons).
nlohmann::json conventions_json(const MetricOptions& options);

}  // namespace psam::eval
