#include "config/binder.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "config/scalar.h"
#include "config/suggest.h"
#include "config/tree.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::config {
namespace detail {

// Where a value came from, for error messages.
struct Where {
  const std::string& origin;
  std::string path;
};

struct Field {
  std::string path;      // dotted key
  std::string type;      // for help comments: int, list of float, auto|cpu|cuda
  std::string expected;  // for errors: an integer, a list of int values, one of auto, cpu, cuda
  bool required = false;
  std::function<void(const YAML::Node&, const Where&)> load;
  // Fields whose value is a mapping (std::map) read the merged tree below their key.
  std::function<void(const Tree&, const Where&)> load_map;
  std::function<void(YAML::Emitter&)> emit;
};

struct Entry {
  std::string key;
  std::string help;
  std::unique_ptr<Field> field;      // a value,
  std::unique_ptr<Section> section;  // or a nested struct
};

struct Section {
  std::string path;
  std::vector<Entry> entries;
  // Keys psam once had: accepted in old files (a run's config.yaml) with a warning, never written.
  std::map<std::string, std::string, std::less<>> retired;  // key -> what to use instead

  const Entry* find(std::string_view key) const {
    for (const Entry& entry : entries) {
      if (entry.key == key) return &entry;
    }
    return nullptr;
  }

  Field& add_field(std::string_view key, std::string_view help) {
    Entry& entry = add(key, help);
    entry.field = std::make_unique<Field>();
    entry.field->path = join_key(path, entry.key);
    return *entry.field;
  }

  Section& add_section(std::string_view key, std::string_view help) {
    Entry& entry = add(key, help);
    entry.section = std::make_unique<Section>();
    entry.section->path = join_key(path, entry.key);
    return *entry.section;
  }

 private:
  // A binding mistake is the programmer's, but it still fails with a message, not a crash.
  Entry& add(std::string_view key, std::string_view help) {
    const std::string name(key);
    PSAM_CHECK(!name.empty() && name.find('.') == std::string::npos,
               fmt::format("config binding: invalid key '{}' (a name without dots)", name));
    PSAM_CHECK(!find(name),
               fmt::format("config binding: key '{}' bound twice", join_key(path, name)));
    entries.push_back(Entry{name, std::string(help), nullptr, nullptr});
    return entries.back();
  }
};

}  // namespace detail

namespace {

using detail::Entry;
using detail::Field;
using detail::Section;
using detail::Where;

[[noreturn]] void mismatch(const Where& where, const std::string& expected, const YAML::Node& got) {
  fail(fmt::format("{}: key '{}' expects {}, got {}", where.origin, where.path, expected,
                   describe(got)));
}

// Conversions between YAML nodes and field types. Scalars: parse() gives nullopt for a value
// of the wrong type; decode() turns that into an error naming the key.
template <class T>
struct Codec;

template <>
struct Codec<bool> {
  static std::string type() { return "bool"; }
  static std::string expected() { return "true or false"; }
  static std::optional<bool> parse(const YAML::Node& node) {
    if (kind_of(node) != ScalarKind::kBool) return std::nullopt;
    return parse_bool(node.Scalar());
  }
  static void encode(YAML::Emitter& out, bool value) { out << value; }
};

template <class I>
struct IntCodec {
  static std::string type() { return "int"; }
  static std::string expected() {
    return sizeof(I) < sizeof(int64_t) ? "a 32-bit integer" : "an integer";
  }
  static std::optional<I> parse(const YAML::Node& node) {
    if (kind_of(node) != ScalarKind::kInt) return std::nullopt;
    const auto value = parse_int(node.Scalar());
    if (!value || *value < std::numeric_limits<I>::min() ||
        *value > std::numeric_limits<I>::max()) {
      return std::nullopt;
    }
    return static_cast<I>(*value);
  }
  static void encode(YAML::Emitter& out, I value) { out << value; }
};
template <>
struct Codec<int> : IntCodec<int> {};
template <>
struct Codec<int64_t> : IntCodec<int64_t> {};

template <class F>
struct FloatCodec {
  static std::string type() { return "float"; }
  static std::string expected() { return "a number"; }
  static std::optional<F> parse(const YAML::Node& node) {
    const ScalarKind kind = kind_of(node);
    if (kind != ScalarKind::kInt && kind != ScalarKind::kFloat) return std::nullopt;
    return parse_float<F>(node.Scalar());
  }
  static void encode(YAML::Emitter& out, F value) { out << format_float(value); }
};
template <>
struct Codec<float> : FloatCodec<float> {};
template <>
struct Codec<double> : FloatCodec<double> {};

template <>
struct Codec<std::string> {
  static std::string type() { return "string"; }
  static std::string expected() { return "a string"; }
  // Any scalar reads as its text: `name: 2024` is the string "2024".
  static std::optional<std::string> parse(const YAML::Node& node) {
    if (!node.IsScalar()) return std::nullopt;
    return node.Scalar();
  }
  static void encode(YAML::Emitter& out, const std::string& value) {
    if (needs_quotes(value)) out << YAML::DoubleQuoted;
    out << value;
  }
};

template <class T>
T decode(const YAML::Node& node, const Where& where) {
  auto value = Codec<T>::parse(node);
  if (!value) mismatch(where, Codec<T>::expected(), node);
  return *std::move(value);
}

template <class T>
struct Codec<std::vector<T>> {
  static std::string type() { return "list of " + Codec<T>::type(); }
  static std::string expected() { return "a list of " + Codec<T>::type() + " values"; }
  static std::vector<T> decode(const YAML::Node& node, const Where& where) {
    if (!node.IsSequence()) mismatch(where, expected(), node);
    std::vector<T> values;
    for (size_t i = 0; i < node.size(); ++i) {
      values.push_back(
          config::decode<T>(node[i], {where.origin, fmt::format("{}[{}]", where.path, i)}));
    }
    return values;
  }
  static void encode(YAML::Emitter& out, const std::vector<T>& values) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const T& value : values) Codec<T>::encode(out, value);
    out << YAML::EndSeq;
  }
};

template <class T>
struct Codec<std::optional<T>> {
  static std::string type() { return Codec<T>::type() + " or null"; }
  static std::string expected() { return Codec<T>::expected() + " or null"; }
  static std::optional<T> decode(const YAML::Node& node, const Where& where) {
    if (node.IsNull()) return std::nullopt;
    auto value = Codec<T>::parse(node);
    if (!value) mismatch(where, expected(), node);
    return value;
  }
  static void encode(YAML::Emitter& out, const std::optional<T>& value) {
    if (value) {
      Codec<T>::encode(out, *value);
    } else {
      out << YAML::Null;
    }
  }
};

template <class T, size_t N>
struct Codec<std::array<T, N>> {
  static std::string type() { return "list of " + std::to_string(N) + " " + Codec<T>::type(); }
  static std::string expected() {
    return "a list of " + std::to_string(N) + " " + Codec<T>::type() + " values";
  }
  static std::array<T, N> decode(const YAML::Node& node, const Where& where) {
    if (!node.IsSequence() || node.size() != N) mismatch(where, expected(), node);
    std::array<T, N> values;
    for (size_t i = 0; i < N; ++i) {
      values[i] = config::decode<T>(node[i], {where.origin, fmt::format("{}[{}]", where.path, i)});
    }
    return values;
  }
  static void encode(YAML::Emitter& out, const std::array<T, N>& values) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const T& value : values) Codec<T>::encode(out, value);
    out << YAML::EndSeq;
  }
};

using NumberMap = std::map<std::string, double>;

template <>
struct Codec<NumberMap> {
  static std::string type() { return "mapping of names to numbers"; }
  static std::string expected() { return "a mapping of names to numbers"; }
  // A leaf: null is the empty mapping, anything else is not a mapping.
  static NumberMap decode(const YAML::Node& node, const Where& where) {
    if (!node.IsNull()) mismatch(where, expected(), node);
    return {};
  }
  // The mapping's entries, nested ones flattened to dotted names.
  static void flatten(const Tree& tree, const std::string& prefix, const Where& where,
                      NumberMap& out) {
    for (const Tree& child : tree.children) {
      const std::string name = join_key(prefix, child.key);
      const Where at{child.origin, join_key(where.path, name)};
      if (child.is_map) {
        flatten(child, name, where, out);
      } else {
        out[name] = config::decode<double>(*child.value, at);
      }
    }
  }
  static void encode(YAML::Emitter& out, const NumberMap& values) {
    out << YAML::Flow << YAML::BeginMap;
    for (const auto& [name, value] : values) {
      out << YAML::Key;
      Codec<std::string>::encode(out, name);
      out << YAML::Value;
      Codec<double>::encode(out, value);
    }
    out << YAML::EndMap;
  }
};

template <class T>
T decode_field(const YAML::Node& node, const Where& where) {
  if constexpr (detail::kScalar<T>) {
    return decode<T>(node, where);
  } else {
    return Codec<T>::decode(node, where);
  }
}

std::string join_names(const std::vector<std::string>& names, const char* separator) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : separator) + name;
  return text;
}

void collect_keys(const Section& section, bool with_sections, std::vector<std::string>& keys) {
  for (const Entry& entry : section.entries) {
    if (entry.field) {
      keys.push_back(entry.field->path);
    } else {
      if (with_sections) keys.push_back(entry.section->path);
      collect_keys(*entry.section, with_sections, keys);
    }
  }
}

void collect_fields(const Section& section, std::vector<const Field*>& fields) {
  for (const Entry& entry : section.entries) {
    if (entry.field) {
      fields.push_back(entry.field.get());
    } else {
      collect_fields(*entry.section, fields);
    }
  }
}

// Writes the tree's values into the bound fields, rejecting keys the schema does not have.
void assign(const Section& root, const Section& section, const Tree& tree,
            std::set<const Field*>& given) {
  for (const Tree& child : tree.children) {
    const std::string path = join_key(section.path, child.key);
    const Entry* entry = section.find(child.key);
    if (!entry) {
      if (const auto it = section.retired.find(child.key); it != section.retired.end()) {
        log::warn(fmt::format("{}: key '{}' is no longer used ({}); ignored", child.origin, path,
                              it->second));
        continue;
      }
      std::vector<std::string> valid;
      collect_keys(root, /*with_sections=*/true, valid);
      fail(fmt::format("{}: unknown key '{}' (did you mean '{}'?)", child.origin, path,
                       closest_key(path, valid)));
    }
    if (entry->section) {
      if (child.is_map) {
        assign(root, *entry->section, child, given);
      } else if (!child.value->IsNull()) {  // `section:` with nothing under it is empty
        fail(fmt::format("{}: key '{}' expects a mapping, got {}", child.origin, path,
                         describe(*child.value)));
      }
      continue;
    }
    const Field& field = *entry->field;
    if (child.is_map && field.load_map) {
      field.load_map(child, Where{child.origin, path});
      given.insert(&field);
      continue;
    }
    PSAM_CHECK(!child.is_map, fmt::format("{}: key '{}' expects {}, got a mapping", child.origin,
                                          path, field.expected));
    field.load(*child.value, Where{child.origin, path});
    given.insert(&field);
  }
}

void emit_section(const Section& section, YAML::Emitter& out, bool with_help) {
  if (section.entries.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  for (const Entry& entry : section.entries) {
    out << YAML::Key << entry.key << YAML::Value;
    if (entry.section) {
      if (with_help && !entry.help.empty()) out << YAML::Comment(entry.help);
      emit_section(*entry.section, out, with_help);
      continue;
    }
    entry.field->emit(out);
    if (with_help) {
      const std::string type = entry.field->type + (entry.field->required ? ", required" : "");
      out << YAML::Comment(entry.help.empty() ? "[" + type + "]" : entry.help + " [" + type + "]");
    }
  }
  out << YAML::EndMap;
}

std::string emitted(const YAML::Emitter& out) {
  PSAM_CHECK(out.good(), "cannot write config as YAML: " + out.GetLastError());
  return out.c_str();
}

}  // namespace

FieldRef& FieldRef::required() {
  field_->required = true;
  return *this;
}

template <class T>
FieldRef Binder::add(std::string_view key, T& value, std::string_view help) {
  Field& field = section_->add_field(key, help);
  field.type = Codec<T>::type();
  field.expected = Codec<T>::expected();
  field.load = [&value](const YAML::Node& node, const Where& where) {
    value = decode_field<T>(node, where);
  };
  if constexpr (std::is_same_v<T, NumberMap>) {
    field.load_map = [&value](const Tree& tree, const Where& where) {
      value.clear();
      Codec<NumberMap>::flatten(tree, "", where, value);
    };
  }
  field.emit = [&value](YAML::Emitter& out) { Codec<T>::encode(out, value); };
  return FieldRef(field);
}

using DoubleTriple = std::array<double, 3>;
#define PSAM_CONFIG_FIELD_TYPE(T) \
  template FieldRef Binder::add<T>(std::string_view, T&, std::string_view);
PSAM_CONFIG_FIELD_TYPE(bool)
PSAM_CONFIG_FIELD_TYPE(int)
PSAM_CONFIG_FIELD_TYPE(int64_t)
PSAM_CONFIG_FIELD_TYPE(float)
PSAM_CONFIG_FIELD_TYPE(double)
PSAM_CONFIG_FIELD_TYPE(std::string)
PSAM_CONFIG_FIELD_TYPE(std::vector<int>)
PSAM_CONFIG_FIELD_TYPE(std::vector<int64_t>)
PSAM_CONFIG_FIELD_TYPE(std::vector<float>)
PSAM_CONFIG_FIELD_TYPE(std::vector<double>)
PSAM_CONFIG_FIELD_TYPE(std::vector<std::string>)
PSAM_CONFIG_FIELD_TYPE(std::optional<int>)
PSAM_CONFIG_FIELD_TYPE(std::optional<int64_t>)
PSAM_CONFIG_FIELD_TYPE(std::optional<float>)
PSAM_CONFIG_FIELD_TYPE(std::optional<double>)
PSAM_CONFIG_FIELD_TYPE(std::optional<std::string>)
PSAM_CONFIG_FIELD_TYPE(DoubleTriple)
PSAM_CONFIG_FIELD_TYPE(NumberMap)
#undef PSAM_CONFIG_FIELD_TYPE

FieldRef Binder::counts(std::string_view key, int64_t& value, std::vector<int64_t>& list,
                        std::string_view help) {
  Field& field = section_->add_field(key, help);
  field.type = "int or list of int";
  field.expected = "an integer or a list of integers";
  field.load = [&value, &list, &field](const YAML::Node& node, const Where& where) {
    std::vector<int64_t> given;
    if (node.IsSequence()) {
      given = Codec<std::vector<int64_t>>::decode(node, where);
    } else {
      const auto one = Codec<int64_t>::parse(node);
      if (!one) mismatch(where, field.expected, node);
      given = {*one};
    }
    PSAM_CHECK(!given.empty(),
               fmt::format("{}: key '{}' expects {}, got an empty list", where.origin,
                           where.path, field.expected));
    value = *std::max_element(given.begin(), given.end());
    list = given.size() > 1 ? given : std::vector<int64_t>{};
  };
  field.emit = [&value, &list](YAML::Emitter& out) {
    if (list.empty()) {
      Codec<int64_t>::encode(out, value);
    } else {
      Codec<std::vector<int64_t>>::encode(out, list);
    }
  };
  return FieldRef(field);
}

FieldRef Binder::size_or_auto(std::string_view key, int64_t& value, std::string_view help,
                               int64_t auto_value) {
  Field& field = section_->add_field(key, help);
  field.type = "int or auto";
  field.expected = "an integer or auto";
  field.load = [&value, &field, auto_value](const YAML::Node& node, const Where& where) {
    if (Codec<std::string>::parse(node) == std::optional<std::string>("auto")) {
      value = auto_value;
      return;
    }
    const auto number = Codec<int64_t>::parse(node);
    if (!number) mismatch(where, field.expected, node);
    value = *number;
  };
  field.emit = [&value, auto_value](YAML::Emitter& out) {
    if (value == auto_value) {
      Codec<std::string>::encode(out, "auto");
    } else {
      Codec<int64_t>::encode(out, value);
    }
  };
  return FieldRef(field);
}

FieldRef Binder::choice(std::string_view key, std::string& value, std::vector<std::string> allowed,
                        std::string_view help) {
  auto get = [&value, allowed]() -> int {
    const auto it = std::find(allowed.begin(), allowed.end(), value);
    return it == allowed.end() ? -1 : static_cast<int>(it - allowed.begin());
  };
  auto set = [&value, allowed](int i) { value = allowed[i]; };
  return add_choice(key, allowed, get, set, help);
}

FieldRef Binder::add_choice(std::string_view key, std::vector<std::string> names,
                            std::function<int()> get, std::function<void(int)> set,
                            std::string_view help) {
  Field& field = section_->add_field(key, help);
  field.type = join_names(names, "|");
  field.expected = "one of " + join_names(names, ", ");
  PSAM_CHECK(get() >= 0, fmt::format("config binding: the default of '{}' is not {}", field.path,
                                     field.expected));
  field.load = [names, set, expected = field.expected](const YAML::Node& node, const Where& where) {
    const auto text = Codec<std::string>::parse(node);
    const auto it = text ? std::find(names.begin(), names.end(), *text) : names.end();
    if (it == names.end()) mismatch(where, expected, node);
    set(static_cast<int>(it - names.begin()));
  };
  field.emit = [names, get, &field](YAML::Emitter& out) {
    const int i = get();
    PSAM_CHECK(i >= 0, fmt::format("config key '{}' holds a value that is not {}", field.path,
                                   field.expected));
    Codec<std::string>::encode(out, names[i]);
  };
  return FieldRef(field);
}

Binder Binder::add_section(std::string_view key, std::string_view help) {
  return Binder(section_->add_section(key, help));
}

void Binder::retired(std::string_view key, std::string_view instead) {
  section_->retired.emplace(std::string(key), std::string(instead));
}

Schema::Schema() : root_(std::make_shared<Section>()) {}

void Schema::load(const std::string& path, const std::vector<std::string>& overrides) const {
  Tree tree;
  tree.is_map = true;
  tree.origin = kCommandLine;
  if (!path.empty()) tree = load_tree(path);
  for (const std::string& assignment : overrides) apply_override(tree, assignment);

  std::set<const Field*> given;
  assign(*root_, *root_, tree, given);
  std::vector<const Field*> fields;
  collect_fields(*root_, fields);
  for (const Field* field : fields) {
    PSAM_CHECK(!field->required || given.count(field),
               fmt::format("{}: missing required key '{}'", path.empty() ? kCommandLine : path,
                           field->path));
  }
}

std::string Schema::to_yaml(bool with_help) const {
  YAML::Emitter out;
  emit_section(*root_, out, with_help);
  return emitted(out) + "\n";
}

std::string Schema::to_key_values() const {
  std::vector<const Field*> fields;
  collect_fields(*root_, fields);
  std::string text;
  for (const Field* field : fields) {
    YAML::Emitter out;
    out << YAML::Flow;
    field->emit(out);
    text += field->path + "=" + emitted(out) + "\n";
  }
  return text;
}

std::vector<std::string> Schema::mapping_keys() const {
  std::vector<const Field*> fields;
  collect_fields(*root_, fields);
  std::vector<std::string> keys;
  for (const Field* field : fields) {
    if (field->load_map) keys.push_back(field->path);
  }
  return keys;
}

std::vector<std::string> Schema::keys() const {
  std::vector<std::string> keys;
  collect_keys(*root_, /*with_sections=*/false, keys);
  return keys;
}

}  // namespace psam::config
