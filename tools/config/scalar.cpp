#include "config/scalar.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <regex>

namespace psam::config {
namespace {

// The YAML 1.2 core schema's resolution rules (YAML 1.2.2, section 10.3.2).
const std::regex kNull("~|null|Null|NULL|");
const std::regex kBool("true|True|TRUE|false|False|FALSE");
const std::regex kInt("[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+");
const std::regex kFloat(
    "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
// YAML 1.1 also reads these words as booleans, and PyYAML gives '=' and '<<' special meanings.
const std::regex kYaml11Special("y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|=|<<");

bool matches(std::string_view text, const std::regex& re) {
  return std::regex_match(text.begin(), text.end(), re);
}

std::string_view strip_plus(std::string_view text) {
  return !text.empty() && text.front() == '+' ? text.substr(1) : text;
}

}  // namespace

ScalarKind resolve_plain(std::string_view text) {
  if (matches(text, kNull)) return ScalarKind::kNull;
  if (matches(text, kBool)) return ScalarKind::kBool;
  if (matches(text, kInt)) return ScalarKind::kInt;
  if (matches(text, kFloat)) return ScalarKind::kFloat;
  return ScalarKind::kString;
}

ScalarKind kind_of(const YAML::Node& node) {
  if (node.IsNull()) return ScalarKind::kNull;
  if (!node.IsScalar()) return ScalarKind::kNotScalar;
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return ScalarKind::kString;
  return resolve_plain(node.Scalar());
}

std::optional<bool> parse_bool(std::string_view text) {
  if (!matches(text, kBool)) return std::nullopt;
  return text.front() == 't' || text.front() == 'T';
}

std::optional<int64_t> parse_int(std::string_view text) {
  if (!matches(text, kInt)) return std::nullopt;
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'o' || text[1] == 'x')) {
    base = text[1] == 'o' ? 8 : 16;
    text.remove_prefix(2);
  }
  text = strip_plus(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

template <class T>
std::optional<T> parse_float(std::string_view text) {
  if (matches(text, kInt)) {
    const auto i = parse_int(text);
    if (!i) return std::nullopt;
    return static_cast<T>(*i);
  }
  if (!matches(text, kFloat)) return std::nullopt;
  const bool negative = text.front() == '-';
  const std::string_view body = strip_plus(negative ? text.substr(1) : text);
  if (body.size() == 4 && body[0] == '.' && (body[1] == 'i' || body[1] == 'I')) {
    return negative ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  if (body.size() == 4 && body[0] == '.') return std::numeric_limits<T>::quiet_NaN();
  T value{};
  const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (ec != std::errc() || end != body.data() + body.size()) return std::nullopt;
  return negative ? -value : value;
}
template std::optional<float> parse_float<float>(std::string_view);
template std::optional<double> parse_float<double>(std::string_view);

template <class T>
std::string format_float(T v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  std::string text = fmt::format("{}", v);  // the shortest text that reads back exactly
  const size_t e = text.find('e');
  if (text.find('.') == std::string::npos)
    text.insert(e == std::string::npos ? text.size() : e, ".0");
  return text;
}
template std::string format_float<float>(float);
template std::string format_float<double>(double);

bool needs_quotes(std::string_view text) {
  if (resolve_plain(text) != ScalarKind::kString || matches(text, kYaml11Special)) return true;
  // YAML 1.1 reads more number forms (1_000, 0b101, 1:30); quote anything that starts like one.
  const std::string_view body = text.substr(text[0] == '-' || text[0] == '+' ? 1 : 0);
  return !body.empty() && (std::isdigit(static_cast<unsigned char>(body[0])) || body[0] == '.');
}

std::string describe(const YAML::Node& node) {
  if (node.IsNull()) return "null";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  const std::string quoted = "'" + node.Scalar() + "'";
  // '1e-4' in quotes looks like a number in the message but is a string to YAML; say why.
  if (kind_of(node) == ScalarKind::kString && resolve_plain(node.Scalar()) != ScalarKind::kString) {
    return quoted + " (quoted, so a string)";
  }
  return quoted;
}

}  // namespace psam::config
