#include "psam/models/model_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "psam/geometry/frame.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"

namespace psam::models {
namespace {

using json = nlohmann::ordered_json;

// The describe() visitor that writes every field as JSON.
class JsonWriter {
 public:
  struct Ref {
    Ref& required() { return *this; }
  };
  explicit JsonWriter(json& out) : out_(out) { out_ = json::object(); }

  template <class T>
  Ref field(std::string_view key, T& value, std::string_view = {}) {
    out_[std::string(key)] = value;
    return {};
  }
  // A size that a YAML config may give as auto (sam::kAutoImgSize): stored resolved, a number.
  Ref size_or_auto(std::string_view key, int64_t& value, std::string_view help = {}) {
    return field(key, value, help);
  }
  template <class E>
  Ref choice(std::string_view key, E& value, std::string_view = {}) {
    out_[std::string(key)] = name_of(value);
    return {};
  }
  Ref choice(std::string_view key, std::string& value, const std::vector<std::string>&,
             std::string_view = {}) {
    out_[std::string(key)] = value;
    return {};
  }
  template <class T>
  void section(std::string_view key, T& value, std::string_view = {}) {
    JsonWriter inner(out_[std::string(key)]);
    describe(inner, value);
  }

 private:
  json& out_;
};

// The describe() visitor that reads fields from JSON: strict types, unknown keys rejected,
// missing keys left at their current (default) values.
class JsonReader {
 public:
  struct Ref {
    Ref& required() { return *this; }
  };
  JsonReader(const json& in, std::string source, std::string path)
      : in_(in), source_(std::move(source)), path_(std::move(path)) {
    PSAM_CHECK(in_.is_object(),
               fmt::format("{}: {} should be a JSON object", source_, path_));
  }

  template <class T>
  Ref field(std::string_view key, T& value, std::string_view = {}) {
    if (const json* v = find(key)) read(*v, value, where(key));
    return {};
  }
  Ref size_or_auto(std::string_view key, int64_t& value, std::string_view help = {}) {
    return field(key, value, help);
  }
  template <class E>
  Ref choice(std::string_view key, E& value, std::string_view = {}) {
    if (const json* v = find(key)) {
      std::string text;
      read(*v, text, where(key));
      value = value_of<E>(text, fmt::format("{}: {}", source_, where(key)));
    }
    return {};
  }
  Ref choice(std::string_view key, std::string& value, const std::vector<std::string>& allowed,
             std::string_view = {}) {
    if (const json* v = find(key)) {
      read(*v, value, where(key));
      PSAM_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(),
                 fmt::format("{}: {} '{}': expected {}", source_, where(key), value,
                             join_alternatives(allowed)));
    }
    return {};
  }
  template <class T>
  void section(std::string_view key, T& value, std::string_view = {}) {
    if (const json* v = find(key)) {
      JsonReader inner(*v, source_, where(key));
      describe(inner, value);
      inner.finish();
    }
  }

  // psam::Error naming the first key no field read.
  void finish() const {
    for (const auto& item : in_.items()) {
      PSAM_CHECK(seen_.count(item.key()),
                 fmt::format("{}: unknown model config key '{}'", source_, where(item.key())));
    }
  }

 private:
  const json* find(std::string_view key) {
    seen_.insert(std::string(key));
    const auto it = in_.find(std::string(key));
    return it == in_.end() ? nullptr : &*it;
  }
  std::string where(std::string_view key) const { return path_ + "." + std::string(key); }

  [[noreturn]] void mismatch(const std::string& key, const char* expected, const json& v) const {
    fail(fmt::format("{}: {} expects {}, got {}", source_, key, expected, v.dump()));
  }
  void read(const json& v, bool& out, const std::string& key) const {
    if (!v.is_boolean()) mismatch(key, "true or false", v);
    out = v.get<bool>();
  }
  void read(const json& v, int64_t& out, const std::string& key) const {
    if (!v.is_number_integer()) mismatch(key, "an integer", v);
    out = v.get<int64_t>();
  }
  void read(const json& v, int& out, const std::string& key) const {
    if (!v.is_number_integer()) mismatch(key, "an integer", v);
    out = v.get<int>();
  }
  void read(const json& v, double& out, const std::string& key) const {
    if (!v.is_number()) mismatch(key, "a number", v);
    out = v.get<double>();
  }
  void read(const json& v, float& out, const std::string& key) const {
    if (!v.is_number()) mismatch(key, "a number", v);
    out = v.get<float>();
  }
  void read(const json& v, std::string& out, const std::string& key) const {
    if (!v.is_string()) mismatch(key, "a string", v);
    out = v.get<std::string>();
  }
  template <class T>
  void read(const json& v, std::vector<T>& out, const std::string& key) const {
    if (!v.is_array()) mismatch(key, "a list", v);
    out.assign(v.size(), T{});
    for (size_t i = 0; i < v.size(); ++i) read(v[i], out[i], fmt::format("{}[{}]", key, i));
  }
  template <class T, size_t N>
  void read(const json& v, std::array<T, N>& out, const std::string& key) const {
    if (!v.is_array() || v.size() != N) mismatch(key, "a list of 3 numbers", v);
    for (size_t i = 0; i < N; ++i) read(v[i], out[i], fmt::format("{}[{}]", key, i));
  }

  const json& in_;
  std::string source_, path_;
  std::set<std::string> seen_;
};

json to_json(ModelConfig config) {
  json out;
  JsonWriter writer(out);
  describe(writer, config);
  return out;
}

// Leaves of two JSON trees that differ, as "a.b: x -> y".
void differences(const json& a, const json& b, const std::string& path,
                 std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& item : a.items()) {
      const auto other = b.find(item.key());
      const std::string key = path + "." + item.key();
      if (other == b.end()) {
        out.push_back(fmt::format("{}: {} -> (absent)", key, item.value().dump()));
      } else {
        differences(item.value(), *other, key, out);
      }
    }
    return;
  }
  if (a != b) out.push_back(fmt::format("{}: {} -> {}", path, a.dump(), b.dump()));
}

}  // namespace

void ModelConfig::validate() const {
  registry_entry(kind);
  prob.validate();
  prob_unet.validate();
  mc_dropout_sam.validate();
  adapter_sam.validate();
  ua_sam.validate();
  usam.validate();
}

bool resolve_img_size(ModelConfig& c, int64_t height, int64_t width) {
  sam::SamConfig& s = c.prob.sam;
  if (s.img_size != sam::kAutoImgSize) return false;
  try {
    s.img_size = geometry::frame_side_for(std::max(height, width), s.patch_size, c.img_size_max);
  } catch (const Error& e) {
    fail(fmt::format("model.sam.img_size: auto: {} (model.img_size_max)", e.what()));
  }
  return true;
}

bool ModelConfig::operator==(const ModelConfig& other) const {
  return to_json(*this) == to_json(other);
}

std::string model_config_json(const ModelConfig& config) { return to_json(config).dump(); }

ModelConfig model_config_from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // syntax, or a number out of range
    fail(fmt::format("{}: the stored model config is not JSON ({})", source, e.what()));
  }
  ModelConfig c;
  JsonReader reader(j, source, "model");
  describe(reader, c);
  reader.finish();
  return c;
}

std::vector<std::string> model_config_differences(const ModelConfig& a, const ModelConfig& b) {
  std::vector<std::string> out;
  differences(to_json(a), to_json(b), "model", out);
  return out;
}

}  // namespace psam::models
