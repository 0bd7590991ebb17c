// `psam info FILE`: what a checkpoint or array file holds, for people and (with --json) scripts.
#pragma once

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>

namespace psam::cli {

// {"file", "container", "top_level": {"type", "keys"/"items", "entries": [non-tensor values]},
//  "metadata" (safetensors), "tensors": [{"name", "shape", "dtype", "bytes"[, "min", "max",
//  "mean"]}], "count", "total_bytes"}. Containers: torch zip archive, safetensors, npy, Python
// pickle (numpy arrays allowed). psam::Error for other or damaged files.
nlohmann::json describe_file(const std::string& path, bool stats);

// The human-readable form of describe_file's result.
void print_info(const nlohmann::json& info, std::ostream& out);

}  // namespace psam::cli
