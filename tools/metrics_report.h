// The text table of per-case metrics and their summary, shared by the commands that print them
// (JSON renderings: psam/eval/metrics_json.h).
#pragma once

#include <string>
#include <vector>

#include "psam/eval/metrics.h"

namespace psam::cli {

// A fixed-width table: one row per case (labelled by `labels`), then the mean row; NaN is "-".
std::string metrics_table(const std::vector<std::string>& labels,
                          const std::vector<eval::CaseMetrics>& cases,
                          const eval::MetricSummary& summary);

}  // namespace psam::cli
