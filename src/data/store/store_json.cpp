#include "data/store/store_json.h"

#include <torch/torch.h>

#include "psam/util/error.h"

namespace psam::data {
namespace {

using json = nlohmann::ordered_json;

const json& field(const json& j, const char* key, json::value_t type, const std::string& source) {
  auto it = j.find(key);
  PSAM_CHECK(it != j.end(), source + ": missing key '" + key + "'");
  const bool numeric_ok =
      type == json::value_t::number_integer && it->type() == json::value_t::number_unsigned;
  PSAM_CHECK(it->type() == type || numeric_ok, source + ": key '" + key + "' has type " +
                                                   it->type_name() + ", expected " +
                                                   json(type).type_name());
  return *it;
}

int64_t positive_int(const json& j, const char* key, const std::string& source) {
  const int64_t v = field(j, key, json::value_t::number_integer, source).get<int64_t>();
  PSAM_CHECK(v > 0, source + ": '" + key + "' must be positive, got " + std::to_string(v));
  return v;
}

const char* const kMetaKeys[] = {"id", "patient_id", "series_uid", "z"};

}  // namespace

std::string dtype_name(at::ScalarType dtype) {
  if (dtype == at::kFloat) return "float32";
  if (dtype == at::kByte) return "uint8";
  return std::string("unsupported (") + c10::toString(dtype) + ")";
}

std::string to_string(Intensity intensity) { return name_of(intensity); }

Intensity intensity_from_string(const std::string& name) {
  return value_of<Intensity>(name, "intensity");
}

nlohmann::ordered_json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // syntax, or a number out of range
    fail(source + ": invalid JSON (" + e.what() + ")");
  }
}

nlohmann::ordered_json info_to_json(const DatasetInfo& info) {
  return json{{"format", kStoreFormatName},
              {"version", kStoreFormatVersion},
              {"name", info.name},
              {"count", info.count},
              {"annotators", info.annotators},
              {"height", info.height},
              {"width", info.width},
              {"channels", info.channels},
              {"image_dtype", dtype_name(info.image_dtype)},
              {"intensity", to_string(info.intensity)},
              {"provenance", parse_json(info.provenance_json, "provenance")}};
}

DatasetInfo info_from_json(const json& j, const std::string& source) {
  PSAM_CHECK(j.is_object(), source + ": expected a JSON object");
  const auto& format = field(j, "format", json::value_t::string, source);
  PSAM_CHECK(format == kStoreFormatName, source + ": 'format' is '" + format.get<std::string>() +
                                             "', expected '" + kStoreFormatName + "'");
  const int64_t version = field(j, "version", json::value_t::number_integer, source).get<int64_t>();
  PSAM_CHECK(version == kStoreFormatVersion, source + ": format version " +
                                                 std::to_string(version) +
                                                 " is not supported (this psam reads version " +
                                                 std::to_string(kStoreFormatVersion) + ")");
  DatasetInfo info;
  info.name = field(j, "name", json::value_t::string, source).get<std::string>();
  info.count = positive_int(j, "count", source);
  info.annotators = positive_int(j, "annotators", source);
  info.height = positive_int(j, "height", source);
  info.width = positive_int(j, "width", source);
  info.channels = positive_int(j, "channels", source);
  PSAM_CHECK(info.channels == 1 || info.channels == 3,
             source + ": 'channels' must be 1 or 3, got " + std::to_string(info.channels));
  const std::string dtype = field(j, "image_dtype", json::value_t::string, source);
  PSAM_CHECK(dtype == "float32" || dtype == "uint8",
             source + ": 'image_dtype' is '" + dtype + "', expected float32 or uint8");
  info.image_dtype = dtype == "uint8" ? at::kByte : at::kFloat;
  try {
    info.intensity = intensity_from_string(field(j, "intensity", json::value_t::string, source));
  } catch (const Error& e) {
    fail(source + ": " + e.what());
  }
  PSAM_CHECK((info.image_dtype == at::kByte) == (info.intensity == Intensity::kUint8),
             source + ": intensity '" + to_string(info.intensity) + "' does not fit image_dtype " +
                 dtype + " (uint8 images have intensity uint8, float32 images hu or unit)");
  if (auto it = j.find("provenance"); it != j.end()) info.provenance_json = it->dump();
  return info;
}

nlohmann::ordered_json meta_to_json(const SampleMeta& meta) {
  json j{{"id", meta.id}, {"patient_id", meta.patient_id}, {"series_uid", meta.series_uid}};
  if (meta.z) j["z"] = *meta.z;
  const json extra = parse_json(meta.extra_json, "meta extra fields of sample '" + meta.id + "'");
  PSAM_CHECK(extra.is_object(), "meta extra fields of sample '" + meta.id + "': not a JSON object");
  for (const auto& [key, value] : extra.items()) {
    PSAM_CHECK(!j.contains(key),
               "meta extra fields of sample '" + meta.id + "': key '" + key + "' is reserved");
    j[key] = value;
  }
  return j;
}

SampleMeta meta_from_json(const json& j, const std::string& source) {
  PSAM_CHECK(j.is_object(), source + ": expected a JSON object");
  SampleMeta meta;
  meta.id = field(j, "id", json::value_t::string, source).get<std::string>();
  meta.patient_id = field(j, "patient_id", json::value_t::string, source).get<std::string>();
  if (j.contains("series_uid"))
    meta.series_uid = field(j, "series_uid", json::value_t::string, source).get<std::string>();
  if (auto it = j.find("z"); it != j.end() && !it->is_null()) {
    PSAM_CHECK(it->is_number(), source + ": key 'z' must be a number");
    meta.z = it->get<double>();
  }
  json extra = json::object();
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kMetaKeys), std::end(kMetaKeys), key) == std::end(kMetaKeys))
      extra[key] = value;
  }
  meta.extra_json = extra.dump();
  return meta;
}

nlohmann::ordered_json splits_to_json(const Splits& splits) {
  json sets = json::object();
  for (const auto& [name, ids] : splits.sets) sets[name] = ids;
  return json{{"unit", splits.unit}, {"description", splits.description}, {"sets", sets}};
}

Splits splits_from_json(const json& j, const std::string& source) {
  PSAM_CHECK(j.is_object(), source + ": expected a JSON object");
  Splits splits;
  splits.unit = field(j, "unit", json::value_t::string, source).get<std::string>();
  PSAM_CHECK(splits.unit == "patient" || splits.unit == "image",
             source + ": 'unit' is '" + splits.unit + "', expected patient or image");
  if (j.contains("description"))
    splits.description = field(j, "description", json::value_t::string, source);
  for (const auto& [name, ids] : field(j, "sets", json::value_t::object, source).items()) {
    PSAM_CHECK(ids.is_array(), source + ": set '" + name + "' is not a list");
    std::vector<std::string> list;
    list.reserve(ids.size());
    for (const auto& id : ids) {
      PSAM_CHECK(id.is_string(), source + ": set '" + name + "' holds a non-string id");
      list.push_back(id.get<std::string>());
    }
    splits.sets.emplace_back(name, std::move(list));
  }
  return splits;
}

}  // namespace psam::data
