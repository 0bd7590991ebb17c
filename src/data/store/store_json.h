// JSON forms of the store's descriptive files (dataset.json, meta.jsonl lines, splits.json),
// shared by the reader, the writer and the checker so all three agree on one schema.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "psam/data/store/store.h"

namespace psam::data {

inline constexpr int kStoreFormatVersion = 1;
inline constexpr const char* kStoreFormatName = "psam-dataset";

std::string dtype_name(at::ScalarType dtype);  // float32 | uint8

nlohmann::ordered_json info_to_json(const DatasetInfo& info);
// `source` names the file in error messages.
DatasetInfo info_from_json(const nlohmann::ordered_json& j, const std::string& source);

nlohmann::ordered_json meta_to_json(const SampleMeta& meta);
SampleMeta meta_from_json(const nlohmann::ordered_json& j, const std::string& source);

nlohmann::ordered_json splits_to_json(const Splits& splits);
Splits splits_from_json(const nlohmann::ordered_json& j, const std::string& source);

// Parses `text` as JSON; a psam::Error naming `source` on a syntax error.
nlohmann::ordered_json parse_json(const std::string& text, const std::string& source);

}  // namespace psam::data
