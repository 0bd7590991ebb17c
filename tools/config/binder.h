// Binding typed option structs to YAML configs. A struct (plain data, defaults in the library
// header) gets one bind() function in tools/config that names its fields:
//
//   void bind(config::Binder& b, sam::SamConfig& c) {
//     b.field("img_size", c.img_size, "input side in pixels");
//     b.choice("attention", c.attention, {"math", "sdpa"}, "attention kernel");
//     b.section("encoder", c.encoder, "image encoder");  // a struct with its own bind()
//   }
//
// From that one description the config layer reads files and overrides into the struct (type
// checked, unknown keys rejected with a suggestion), writes it back and hashes it. This header
// is free of YAML; declare each bind() in namespace psam::config so section() finds it.
#pragma once

#include <cstdint>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "psam/util/names.h"

namespace psam::config {

namespace detail {
struct Field;
struct Section;

template <class T>
inline constexpr bool kScalar =
    std::is_same_v<T, bool> || std::is_same_v<T, int> || std::is_same_v<T, int64_t> ||
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::string>;
template <class T>
inline constexpr bool kSupported = kScalar<T>;
template <class T>
inline constexpr bool kSupported<std::vector<T>> = kScalar<T> && !std::is_same_v<T, bool>;
template <class T>
inline constexpr bool kSupported<std::optional<T>> = kScalar<T> && !std::is_same_v<T, bool>;
template <>
inline constexpr bool kSupported<std::array<double, 3>> = true;
template <>
inline constexpr bool kSupported<std::map<std::string, double>> = true;
}  // namespace detail

// Returned by field() and choice() to add constraints.
class FieldRef {
 public:
  explicit FieldRef(detail::Field& field) : field_(&field) {}
  // A file or override must set it; loading fails naming the key otherwise.
  FieldRef& required();

 private:
  detail::Field* field_;
};

class Binder {
 public:
  explicit Binder(detail::Section& section) : section_(&section) {}

  // T: bool, int, int64_t, float, double, std::string, a std::vector or std::optional of one of
  // them (no bool), or std::array<double, 3> (e.g. per-channel pixel statistics). An optional
  // accepts null (`~`) in YAML and writes null when empty. A std::map<std::string, double> is a
  // mapping of names to numbers (train.lr_mult): dotted names are nested mappings in the tree
  // and read back flattened, so `a.b: 1`, `a: {b: 1}` and the override `x.a.b=1` agree; null or
  // `{}` is empty.
  template <class T>
  FieldRef field(std::string_view key, T& value, std::string_view help = {}) {
    static_assert(detail::kSupported<T>,
                  "config::Binder::field: unsupported type; use bool, int, int64_t, float, "
                  "double, std::string, or std::vector / std::optional of those");
    return add(key, value, help);
  }

  // A count that may also be given as a list of counts (eval.samples: 16 or [16, 32, 100]): the
  // largest goes to `value`, and a list of several to `list` (else `list` is left empty). Written
  // back as it was given: a plain integer when `list` is empty.
  FieldRef counts(std::string_view key, int64_t& value, std::vector<int64_t>& list,
                  std::string_view help = {});

  // A size in pixels that may also be given as `auto` (stored as auto_value, written back as
  // auto), for a value the command resolves from the data (model.sam.img_size).
  FieldRef size_or_auto(std::string_view key, int64_t& value, std::string_view help = {},
                        int64_t auto_value = 0);

  // A string restricted to the allowed values.
  FieldRef choice(std::string_view key, std::string& value, std::vector<std::string> allowed,
                  std::string_view help = {});

  // An enum, written as the names of its name table (psam/util/names.h).
  template <class E>
  FieldRef choice(std::string_view key, E& value, std::string_view help = {}) {
    static_assert(std::is_enum_v<E>, "config::Binder::choice: use a std::string or an enum");
    const auto& table = enum_names(E{});
    auto get = [&value, &table]() -> int {
      for (size_t i = 0; i < table.size(); ++i) {
        if (table[i].value == value) return static_cast<int>(i);
      }
      return -1;
    };
    auto set = [&value, &table](int i) { value = table[i].value; };
    return add_choice(key, names_of<E>(), get, set, help);
  }

  // A key psam no longer has: old files (a run's config.yaml) that set it still load, with a
  // warning saying `instead`; it is never written.
  void retired(std::string_view key, std::string_view instead);

  // A nested struct under `key`, described by its own bind(Binder&, T&) or, for library structs,
  // by the describe(B&, T&) template next to their definition.
  template <class T>
  void section(std::string_view key, T& value, std::string_view help = {}) {
    Binder inner = add_section(key, help);
    bind(inner, value);
  }

 private:
  template <class T>
  FieldRef add(std::string_view key, T& value, std::string_view help);
  FieldRef add_choice(std::string_view key, std::vector<std::string> names,
                      std::function<int()> get, std::function<void(int)> set,
                      std::string_view help);
  Binder add_section(std::string_view key, std::string_view help);

  detail::Section* section_;
};

// A library struct with a describe(B&, T&) template (found by argument-dependent lookup) binds
// through it, so its field names and help are written once for YAML and for JSON checkpoints.
template <class T>
auto bind(Binder& b, T& value) -> decltype(describe(b, value), void()) {
  describe(b, value);
}

// The description of one root struct, bound to it by reference: loading writes into it.
class Schema {
 public:
  template <class T>
  explicit Schema(T& root) : Schema() {
    Binder binder(*root_);
    bind(binder, root);
  }

  // Sets the bound struct from a YAML file with its _base_ chain (none when path is empty) and
  // then `key.sub=value` overrides. Keys not given keep the struct's current values. On error
  // the struct may be partly set (config::load discards it).
  void load(const std::string& path, const std::vector<std::string>& overrides = {}) const;

  // Every field, defaults included, in declaration order. with_help adds each field's help and
  // type as a comment.
  std::string to_yaml(bool with_help = false) const;

  // One `key.sub=value` line per field; each line is a valid override.
  std::string to_key_values() const;

  std::vector<std::string> keys() const;  // every field's dotted key, in declaration order
  // The keys of the fields that are mappings of names (train.lr_mult): KEY.NAME sets an entry.
  std::vector<std::string> mapping_keys() const;

 private:
  Schema();
  std::shared_ptr<detail::Section> root_;
};

// A T with its defaults, then the file (with its _base_ chain) and overrides applied.
template <class T>
T load(const std::string& path, const std::vector<std::string>& overrides = {}) {
  T value{};
  Schema(value).load(path, overrides);
  return value;
}

// The resolved config as YAML (every field). Takes a copy because binding needs a mutable struct.
template <class T>
std::string to_yaml(T value, bool with_help = false) {
  return Schema(value).to_yaml(with_help);
}

template <class T>
std::string to_key_values(T value) {
  return Schema(value).to_key_values();
}

// Writes to_yaml(value) to path atomically; `sha256sum path` then equals hash(value).
template <class T>
void write(const T& value, const std::string& path) {
  const std::string text = to_yaml(value);
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

// SHA-256 (hex) of to_yaml(value): equal configs hash equal, whatever files they came from.
template <class T>
std::string hash(const T& value) {
  return sha256_hex(to_yaml(value));
}

}  // namespace psam::config
