// psam compare: the runs of a benchmark (config/bench.h) and their report.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace psam::cli {

// One evaluated run: a method at a training seed on a split (a method that learns nothing has
// one run, shown at every seed).
struct ComparedRun {
  std::string method;
  int64_t seed = 0;
  std::string split;
  std::string eval_dir;  // its psam eval report: summary.json, per_case.csv, samples.png
  nlohmann::json summary;
};

// Writes results.md, results.csv, results.json, bars_<metric>.svg, ged_vs_samples.svg and
// samples.png into `dir`; `methods` in table order, `baseline` among them. Returns results.md.
std::string write_compare_report(const std::string& dir, const std::string& title,
                                 const std::vector<std::string>& methods,
                                 const std::string& baseline,
                                 const std::vector<ComparedRun>& runs);

}  // namespace psam::cli
