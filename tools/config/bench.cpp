#include "config/bench.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "config/config.h"
#include "config/scalar.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"

namespace psam::config {
namespace {
namespace fs = std::filesystem;

constexpr const char* kPromptOnly = "box_ellipse";

struct Reader {
  const std::string& file;

  [[noreturn]] void bad(const std::string& key, const std::string& expected,
                        const YAML::Node& got) const {
    fail(fmt::format("{}: key '{}' expects {}, got {}", file, key, expected, describe(got)));
  }

  void only(const YAML::Node& map, const std::string& where,
            const std::set<std::string>& keys) const {
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>();
      if (!keys.count(key)) {
        std::string known;
        for (const auto& k : keys) known += (known.empty() ? "" : ", ") + k;
        fail(fmt::format("{}: unknown key '{}{}' (known: {})", file, where, key, known));
      }
    }
  }

  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) bad(key, "a string", node);
    return node.Scalar();
  }

  std::vector<std::string> texts(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) bad(key, "a list of strings", node);
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i)
      out.push_back(text(node[i], fmt::format("{}[{}]", key, i)));
    return out;
  }

  // A path relative to the benchmark file.
  std::string path(const YAML::Node& node, const std::string& key) const {
    const fs::path p = text(node, key);
    return (p.is_absolute() ? p : fs::path(file).parent_path() / p).lexically_normal().string();
  }
};

// A YAML value as override text (flow style): [4, 8, 16], union, 0.95.
std::string flow(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

}  // namespace

// key=value overrides applied to the file's YAML tree.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    PSAM_CHECK(eq != std::string::npos && eq > 0,
               fmt::format("psam compare: '{}' is not a key=value override", o));
    const std::string key = o.substr(0, eq);
    YAML::Node value;
    try {
      value = YAML::Load(o.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      fail(fmt::format("command line: {}: not valid YAML: {}", o, e.msg));
    }
    if (key == "data.store" && value.IsScalar())
      value = YAML::Node(fs::absolute(value.Scalar()).lexically_normal().string());
    YAML::Node node = root;
    std::string rest = key;
    for (size_t dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
      YAML::Node child = node[rest.substr(0, dot)];
      node.reset(child);
      rest = rest.substr(dot + 1);
    }
    node[rest] = value;
  }
}

Benchmark load_benchmark(const std::string& path, const std::vector<std::string>& overrides) {
  PSAM_CHECK(fs::is_regular_file(path), fmt::format("{}: no such benchmark file", path));
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    fail(fmt::format("{}: not valid YAML: {}", path, e.msg));
  }
  PSAM_CHECK(root.IsMap(), fmt::format("{}: a benchmark file is a mapping (name, data, methods, "
                                       "...)",
                                       path));
  apply_overrides(root, overrides);
  const Reader r{path};
  r.only(root, "", {"name", "out_dir", "data", "seeds", "splits", "baseline",
                    "prompt_only_baseline", "overrides", "eval", "methods"});
  Benchmark b;
  b.file = path;
  b.name = root["name"] ? r.text(root["name"], "name") : fs::path(path).stem().string();
  b.out_dir = root["out_dir"] ? r.text(root["out_dir"], "out_dir") : "runs/compare";
  const YAML::Node data = root["data"];
  PSAM_CHECK(data && data.IsMap() && data["store"],
             fmt::format("{}: key 'data.store' is required (the dataset store every method uses)",
                         path));
  r.only(data, "data.", {"store", "synth"});
  b.store = r.path(data["store"], "data.store");
  if (data["synth"]) b.synth = r.texts(data["synth"], "data.synth");
  if (root["seeds"]) {
    const YAML::Node seeds = root["seeds"];
    if (!seeds.IsSequence() || seeds.size() == 0) r.bad("seeds", "a list of integers", seeds);
    b.seeds.clear();
    for (size_t i = 0; i < seeds.size(); ++i) {
      const auto seed = seeds[i].IsScalar() ? parse_int(seeds[i].Scalar()) : std::nullopt;
      if (!seed) r.bad(fmt::format("seeds[{}]", i), "an integer", seeds[i]);
      b.seeds.push_back(*seed);
    }
  }
  if (root["splits"]) b.splits = r.texts(root["splits"], "splits");
  PSAM_CHECK(!b.splits.empty(), fmt::format("{}: key 'splits' names no split", path));
  if (root["baseline"]) b.baseline = r.text(root["baseline"], "baseline");
  bool prompt_only = true;
  if (root["prompt_only_baseline"]) {
    const auto v = root["prompt_only_baseline"];
    if (kind_of(v) != ScalarKind::kBool) r.bad("prompt_only_baseline", "true or false", v);
    prompt_only = *parse_bool(v.Scalar());
  }
  std::vector<std::string> shared;
  if (root["overrides"]) shared = r.texts(root["overrides"], "overrides");
  if (root["eval"]) {
    const YAML::Node e = root["eval"];
    if (!e.IsMap()) r.bad("eval", "a mapping of eval keys", e);
    for (const auto& entry : e)
      b.eval.push_back(fmt::format("eval.{}={}", entry.first.as<std::string>(), flow(entry.second)));
  }
  // The eval keys and the shared overrides are checked once here, before anything runs.
  try {
    Config probe;
    std::vector<std::string> all = shared;
    all.insert(all.end(), b.eval.begin(), b.eval.end());
    Schema(probe).load("", all);
    probe.eval.validate();
  } catch (const Error& e) {
    fail(fmt::format("{}: {}", path, e.what()));
  }

  const YAML::Node methods = root["methods"];
  if (!methods || !methods.IsSequence() || methods.size() == 0)
    fail(fmt::format("{}: key 'methods' expects a list of methods ({{name, config or kind, "
                     "overrides}})",
                     path));
  for (size_t i = 0; i < methods.size(); ++i) {
    const std::string where = fmt::format("methods[{}]", i);
    const YAML::Node m = methods[i];
    if (!m.IsMap()) r.bad(where, "a mapping {name, config or kind, overrides}", m);
    r.only(m, where + ".", {"name", "config", "kind", "overrides"});
    BenchMethod method;
    PSAM_CHECK(m["name"], fmt::format("{}: key '{}.name' is required", path, where));
    method.name = r.text(m["name"], where + ".name");
    PSAM_CHECK(!method.name.empty() && method.name.find('/') == std::string::npos,
               fmt::format("{}: key '{}.name' must be a folder name, got '{}'", path, where,
                           method.name));
    if (m["config"]) {
      method.config = r.path(m["config"], where + ".config");
      // A copied benchmark file: a path that works from the working directory (configs/...).
      const std::string as_written = r.text(m["config"], where + ".config");
      if (!fs::is_regular_file(method.config) && fs::is_regular_file(as_written))
        method.config = fs::absolute(as_written).lexically_normal().string();
      PSAM_CHECK(fs::is_regular_file(method.config),
                 fmt::format("{}: key '{}.config': no such file {} (a relative path is taken from "
                             "the benchmark file's folder, then from the working directory; "
                             "write it relative to either, or absolute)",
                             path, where, method.config));
    }
    if (m["kind"]) {
      method.kind = r.text(m["kind"], where + ".kind");
      try {
        PSAM_CHECK(!models::registry_entry(method.kind).learns,
                   fmt::format("kind {} learns from data: give its config instead", method.kind));
      } catch (const Error& e) {
        fail(fmt::format("{}: key '{}.kind': {}", path, where, e.what()));
      }
    }
    PSAM_CHECK(!method.config.empty() || !method.kind.empty(),
               fmt::format("{}: {} ({}) needs a config (a method that trains) or a kind (one "
                           "that learns nothing)",
                           path, where, method.name));
    method.overrides = shared;
    if (m["overrides"]) {
      const auto own = r.texts(m["overrides"], where + ".overrides");
      method.overrides.insert(method.overrides.end(), own.begin(), own.end());
    }
    for (const auto& other : b.methods)
      PSAM_CHECK(other.name != method.name,
                 fmt::format("{}: method name '{}' appears twice", path, method.name));
    b.methods.push_back(std::move(method));
  }
  const auto named = [&](const std::string& name) {
    return std::any_of(b.methods.begin(), b.methods.end(),
                       [&](const BenchMethod& m) { return m.name == name; });
  };
  if (prompt_only && !named(kPromptOnly)) {
    BenchMethod m;
    m.name = kPromptOnly;
    m.kind = kPromptOnly;
    m.overrides = shared;
    b.methods.insert(b.methods.begin(), std::move(m));
  }
  PSAM_CHECK(named(b.baseline), fmt::format("{}: key 'baseline': no method named '{}'", path,
                                            b.baseline));
  return b;
}

}  // namespace psam::config
