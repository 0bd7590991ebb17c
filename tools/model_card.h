// The model card psam export writes beside the weights (FILE.json): what the weights are, how
// they were trained and evaluated, and their SHA-256, gathered from a run directory when there is
// one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace psam::cli {

// What a run directory says about its model: its resolved config.yaml as JSON ("config"), the
// model section ("model"), a training data summary ("training_data": the data section plus the
// dataset.json of any store directory it names) and eval/<split>/summary.json ("eval"). Keys are
// absent when the run lacks that part; an empty run_dir gives an empty object.
nlohmann::json describe_run(const std::string& run_dir);

}  // namespace psam::cli
