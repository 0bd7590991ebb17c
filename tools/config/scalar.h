// YAML scalars as typed values, following the YAML 1.2 core schema (so `1e-4` is a number and
// `yes` is a string), and text that reads back the same in YAML 1.1 readers such as PyYAML.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace psam::config {

enum class ScalarKind { kNull, kBool, kInt, kFloat, kString, kNotScalar };

// What a node holds: plain scalars are typed by their text; quoted or !!str ones are strings.
ScalarKind kind_of(const YAML::Node& node);
ScalarKind resolve_plain(std::string_view text);

std::optional<bool> parse_bool(std::string_view text);
std::optional<int64_t> parse_int(std::string_view text);  // nullopt also when out of range
template <class T>
std::optional<T> parse_float(std::string_view text);  // T = float or double; ints accepted

// Shortest text that reads back as exactly v, always with a '.' and a signed exponent so
// YAML 1.1 readers see a float too ("1.0", "0.1", "1.0e-05", ".inf").
template <class T>
std::string format_float(T v);

// Whether a string must be quoted so it does not read back as null, a bool or a number (in YAML
// 1.2 or 1.1).
bool needs_quotes(std::string_view text);

// A value for error messages: 'fast', null, a list, a mapping.
std::string describe(const YAML::Node& node);

}  // namespace psam::config
