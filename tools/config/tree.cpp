#include "config/tree.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "config/scalar.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::config {
namespace {
namespace fs = std::filesystem;

constexpr const char* kBaseKey = "_base_";

// Bounds far above any real config, so that a hostile one cannot make loading exponential or
// unbounded: YAML anchors referring to anchors (an alias bomb) expand when walked, a _base_ list
// naming files that name files again (a diamond) loads them again and again, and very deep
// nesting would exhaust the stack of the recursive merge.
constexpr int kMaxDepth = 32;              // nested mappings, dotted key parts included
constexpr size_t kMaxEntries = 100'000;    // mapping entries read, aliases expanded
constexpr size_t kMaxFiles = 256;          // files read through _base_, repeats counted

struct Budget {
  size_t entries = 0;
  size_t files = 0;
};

// "a.b.c" -> {a, b, c}; an empty part is an error naming the origin.
std::vector<std::string> split_key(const std::string& key, const std::string& origin) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t dot = key.find('.', begin);
    parts.push_back(key.substr(begin, dot - begin));
    PSAM_CHECK(!parts.back().empty(),
               fmt::format("{}: key '{}' has an empty part between dots", origin, key));
    if (dot == std::string::npos) return parts;
    begin = dot + 1;
  }
}

Tree* find_child(Tree& tree, std::string_view key) {
  for (Tree& child : tree.children) {
    if (child.key == key) return &child;
  }
  return nullptr;
}

// Wraps `leaf` in one mapping per leading part of a dotted key: {a: {b: leaf}} for a.b.c.
Tree nest(const std::vector<std::string>& parts, Tree leaf) {
  leaf.key = parts.back();
  for (size_t i = parts.size() - 1; i-- > 0;) {
    Tree parent;
    parent.key = parts[i];
    parent.origin = leaf.origin;
    parent.is_map = true;
    parent.children.push_back(std::move(leaf));
    leaf = std::move(parent);
  }
  Tree root;
  root.origin = leaf.origin;
  root.is_map = true;
  root.children.push_back(std::move(leaf));
  return root;
}

void check_depth(int depth, const std::string& origin, const std::string& path) {
  PSAM_CHECK(depth <= kMaxDepth, fmt::format("{}: key '{}' is nested deeper than {} levels",
                                             origin, path.substr(0, 200), kMaxDepth));
}

// A YAML node as a tree. A dotted key ("train.lr: 1") is shorthand for nested mappings, as on
// the command line. `depth` counts the mappings above node.
Tree from_yaml(const YAML::Node& node, const std::string& origin, const std::string& path,
               int depth, Budget& budget) {
  Tree tree;
  tree.origin = origin;
  if (!node.IsMap()) {
    tree.value = std::make_shared<const YAML::Node>(node);
    return tree;
  }
  tree.is_map = true;
  std::set<std::string> seen;
  for (const auto& entry : node) {
    PSAM_CHECK(++budget.entries <= kMaxEntries,
               fmt::format("{}: more than {} keys once YAML aliases are expanded (an alias bomb?)",
                           origin, kMaxEntries));
    PSAM_CHECK(entry.first.IsScalar(),
               fmt::format("{}: keys must be names, got {}{}", origin, describe(entry.first),
                           path.empty() ? "" : " under '" + path + "'"));
    const std::string& key = entry.first.Scalar();
    const std::string full = join_key(path, key);
    PSAM_CHECK(seen.insert(key).second, fmt::format("{}: duplicate key '{}'", origin, full));
    const std::vector<std::string> parts = split_key(key, origin);
    const int inner = depth + static_cast<int>(parts.size());
    check_depth(inner, origin, full);
    merge(tree, nest(parts, from_yaml(entry.second, origin, full, inner, budget)));
  }
  return tree;
}

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail(fmt::format("{}:{}:{}: invalid YAML: {}", origin, e.mark.line + 1, e.mark.column + 1,
                     e.msg));
  } catch (const YAML::Exception& e) {
    fail(fmt::format("{}: invalid YAML: {}", origin, e.what()));
  }
}

std::vector<std::string> base_names(const YAML::Node& bases, const std::string& path) {
  const std::string expected =
      fmt::format("{}: {} expects a file name or a list of file names", path, kBaseKey);
  if (!bases || bases.IsNull()) return {};
  if (bases.IsScalar()) return {bases.Scalar()};
  PSAM_CHECK(bases.IsSequence(), expected + ", got " + describe(bases));
  std::vector<std::string> names;
  for (const auto& base : bases) {
    PSAM_CHECK(base.IsScalar(), expected + ", got " + describe(base) + " in the list");
    names.push_back(base.Scalar());
  }
  return names;
}

// `chain` holds the files being loaded, outermost first, to detect cycles.
Tree load_file(const std::string& path, std::vector<std::pair<fs::path, std::string>>& chain,
               Budget& budget) {
  PSAM_CHECK(++budget.files <= kMaxFiles,
             fmt::format("{}: more than {} files to load through {} (files naming the same bases "
                         "again and again?)",
                         chain.empty() ? path : chain.front().second, kMaxFiles, kBaseKey));
  const fs::path canonical = fs::weakly_canonical(path);
  const auto loop = std::find_if(chain.begin(), chain.end(),
                                 [&](const auto& link) { return link.first == canonical; });
  if (loop != chain.end()) {
    std::string cycle;
    for (auto it = loop; it != chain.end(); ++it) cycle += it->second + " -> ";
    fail(fmt::format("{}: {} cycle: {}{}", chain.back().second, kBaseKey, cycle, path));
  }

  const YAML::Node root = parse_yaml(read_file(path), path);
  PSAM_CHECK(
      root.IsNull() || root.IsMap(),
      fmt::format("{}: expected a mapping of keys at the top level, got {}", path, describe(root)));
  Tree tree;
  tree.origin = path;
  tree.is_map = true;
  chain.emplace_back(canonical, path);
  for (const std::string& name : base_names(root[kBaseKey], path)) {
    const std::string base = (fs::path(path).parent_path() / name).lexically_normal().string();
    PSAM_CHECK(fs::is_regular_file(base),
               fmt::format("{}: {} '{}' not found (looked for {})", path, kBaseKey, name, base));
    merge(tree, load_file(base, chain, budget));
  }
  chain.pop_back();

  Tree own = from_yaml(root, path, "", 0, budget);
  own.children.erase(std::remove_if(own.children.begin(), own.children.end(),
                                    [](const Tree& child) { return child.key == kBaseKey; }),
                     own.children.end());
  merge(tree, own);
  return tree;
}

}  // namespace

std::string join_key(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void merge(Tree& into, const Tree& from) {
  if (!from.is_map) {
    if (into.is_map && from.value->IsNull()) return;
    into.is_map = false;
    into.children.clear();
    into.value = from.value;
    into.origin = from.origin;
    return;
  }
  if (!into.is_map) {
    into.is_map = true;
    into.value.reset();
  }
  into.origin = from.origin;
  for (const Tree& child : from.children) {
    if (Tree* existing = find_child(into, child.key)) {
      merge(*existing, child);
    } else {
      into.children.push_back(child);
    }
  }
}

Tree load_tree(const std::string& path) {
  std::vector<std::pair<fs::path, std::string>> chain;
  Budget budget;
  return load_file(path, chain, budget);
}

void apply_override(Tree& tree, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  PSAM_CHECK(
      eq != std::string::npos && eq > 0,
      fmt::format("{}: override '{}' must look like key.sub=value", kCommandLine, assignment));
  const std::string key = assignment.substr(0, eq);
  const std::vector<std::string> parts = split_key(key, kCommandLine);
  check_depth(static_cast<int>(parts.size()), kCommandLine, key);
  PSAM_CHECK(parts.front() != kBaseKey,
             fmt::format("{}: {} cannot be overridden; name the file on the command line instead",
                         kCommandLine, kBaseKey));
  const YAML::Node value = [&] {
    try {
      return YAML::Load(assignment.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      fail(fmt::format("{}: override '{}': invalid YAML value: {}", kCommandLine, assignment,
                       e.msg));
    }
  }();
  Budget budget;
  merge(tree, nest(parts, from_yaml(value, kCommandLine, key, static_cast<int>(parts.size()),
                                    budget)));
}

}  // namespace psam::config
