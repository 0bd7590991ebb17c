// One name table per enum, used both ways: the library's to_string / from_string and the config
// binder's choice lists read the same table, so a new value is written once (as llama.cpp's
// LLM_ARCH_NAMES). Each enum declares, next to its definition,
//
//   inline constexpr psam::NameTable<Kind, 3> kKindNames = {{{Kind::kA, "a"}, ...}};
//   constexpr const auto& enum_names(Kind) { return kKindNames; }
//
// and psam::name_of(value) / psam::value_of<Kind>(text, what) find it through the enum_names
// overload of the enum's namespace.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "psam/util/error.h"

namespace psam {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

template <class E, size_t N>
using NameTable = std::array<EnumName<E>, N>;

// The enum's names in table order.
template <class E>
std::vector<std::string> names_of() {
  std::vector<std::string> out;
  for (const auto& entry : enum_names(E{})) out.emplace_back(entry.name);
  return out;
}

// "a, b or c".
std::string join_alternatives(const std::vector<std::string>& names);

template <class E>
const char* name_of(E value) {
  for (const auto& entry : enum_names(value)) {
    if (entry.value == value) return entry.name;
  }
  fail("enum value without a name (a missing entry in its name table)");
}

// The value named `text`; psam::Error "<what> 'text': expected a, b or c" otherwise.
template <class E>
E value_of(std::string_view text, std::string_view what) {
  for (const auto& entry : enum_names(E{})) {
    if (text == entry.name) return entry.value;
  }
  fail(std::string(what) + " '" + std::string(text) + "': expected " +
       join_alternatives(names_of<E>()));
}

}  // namespace psam
