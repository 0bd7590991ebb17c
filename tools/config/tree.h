// Config sources merged into one tree before it is checked against the bound structs: a YAML
// file with its `_base_` chain, then command-line overrides. Every value remembers which file
// (or "command line") set it, so errors name the file a user has to edit.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

namespace psam::config {

inline constexpr const char* kCommandLine = "command line";

struct Tree {
  std::string key;     // this entry's key in its parent mapping
  std::string origin;  // the file that set it last
  bool is_map = false;
  // A leaf: scalar, list or null. Held by pointer because assigning one YAML::Node to another
  // writes through to the node it refers to, which other trees may share.
  std::shared_ptr<const YAML::Node> value;
  std::vector<Tree> children;  // a mapping's entries, in the order first seen
};

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join_key(const std::string& prefix, const std::string& key);

// Loads a YAML file and the `_base_` files it names (relative to it, recursively), merging the
// bases in order and the file itself on top.
Tree load_tree(const std::string& path);

// Deep merge: mappings merge key by key, anything else in `from` replaces what `into` held.
// A null merged onto a mapping leaves it as it was (an empty section).
void merge(Tree& into, const Tree& from);

// Merges one `key.sub=value` override; the value is read as YAML.
void apply_override(Tree& tree, const std::string& assignment);

}  // namespace psam::config
