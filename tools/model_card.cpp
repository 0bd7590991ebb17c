#include "model_card.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto j = nlohmann::json::object();
      for (const auto& item : node) j[item.first.as<std::string>()] = yaml_to_json(item.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      auto j = nlohmann::json::array();
      for (const auto& item : node) j.push_back(yaml_to_json(item));
      return j;
    }
    case YAML::NodeType::Scalar: {
      // Quoted scalars stay strings; plain ones get the type YAML would give them.
      if (node.Tag() != "!") {
        int64_t i = 0;
        double d = 0;
        bool b = false;
        if (YAML::convert<int64_t>::decode(node, i)) return i;
        if (YAML::convert<double>::decode(node, d)) return d;
        if (YAML::convert<bool>::decode(node, b)) return b;
      }
      return node.Scalar();
    }
    default:
      return nullptr;
  }
}

nlohmann::json read_json(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_file(path.string()));
  } catch (const nlohmann::json::parse_error& e) {
    fail(fmt::format("{}: not valid JSON ({})", path.string(), e.what()));
  }
}

// The dataset.json of every directory the data section names (relative paths are taken from
// the current directory, as the trainer reads them).
nlohmann::json datasets_named_in(const nlohmann::json& data) {
  auto found = nlohmann::json::object();
  for (const auto& [key, value] : data.items()) {
    if (!value.is_string()) continue;
    const auto info = fs::path(value.get<std::string>()) / "dataset.json";
    std::error_code ec;
    if (fs::is_regular_file(info, ec)) found[key] = read_json(info);
  }
  return found;
}

}  // namespace

nlohmann::json describe_run(const std::string& run_dir) {
  auto out = nlohmann::json::object();
  if (run_dir.empty()) return out;
  const fs::path dir(run_dir);
  const auto config_path = dir / "config.yaml";
  if (fs::exists(config_path)) {
    YAML::Node config;
    try {
      config = YAML::LoadFile(config_path.string());
    } catch (const YAML::Exception& e) {
      fail(fmt::format("{}: not valid YAML ({})", config_path.string(), e.msg));
    }
    out["config"] = yaml_to_json(config);
    if (out["config"].contains("model")) out["model"] = out["config"]["model"];
    if (out["config"].contains("data")) {
      const auto& data = out["config"]["data"];
      out["training_data"] = {{"config", data}};
      const auto datasets = datasets_named_in(data);
      if (!datasets.empty()) out["training_data"]["datasets"] = datasets;
    }
  }
  std::error_code ec;
  if (fs::is_directory(dir / "eval", ec)) {
    for (const auto& split : fs::directory_iterator(dir / "eval")) {
      const auto summary = split.path() / "summary.json";
      if (fs::is_regular_file(summary, ec))
        out["eval"][split.path().filename().string()] = read_json(summary);
    }
  }
  return out;
}

}  // namespace psam::cli
