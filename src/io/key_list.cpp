#include "psam/io/key_list.h"

#include <fmt/format.h>

#include <sstream>
#include <unordered_set>

#include "psam/io/dtype.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::io {
namespace {

std::vector<int64_t> parse_shape(const std::string& text, const std::string& where) {
  std::vector<int64_t> shape;
  if (text.empty()) return shape;
  for (size_t start = 0;;) {
    const size_t end = text.find('x', start);
    const std::string dim = text.substr(start, end - start);
    PSAM_CHECK(!dim.empty() && dim.size() <= 18 &&
                   dim.find_first_not_of("0123456789") == std::string::npos,
               where + ": shape '" + text + "' is not of the form AxBxC");
    shape.push_back(std::stoll(dim));
    if (end == std::string::npos) return shape;
    start = end + 1;
  }
}

}  // namespace

std::vector<KeySpec> read_key_list(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<KeySpec> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", path, number);
    const size_t tab1 = line.find('\t');
    const size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    PSAM_CHECK(
        tab2 != std::string::npos && line.find('\t', tab2 + 1) == std::string::npos && tab1 > 0,
        where + ": expected 'name<TAB>shape<TAB>dtype'");
    const std::string dtype = line.substr(tab2 + 1);
    const DtypeInfo* d = find_dtype_by_name(dtype);
    PSAM_CHECK(d != nullptr, where + ": unknown dtype '" + dtype + "'");
    out.push_back({line.substr(0, tab1), parse_shape(line.substr(tab1 + 1, tab2 - tab1 - 1), where),
                   d->type});
  }
  return out;
}

std::vector<std::string> compare_key_list(const std::vector<KeySpec>& expected,
                                          const TensorDict& actual) {
  std::vector<std::string> diffs;
  std::unordered_set<std::string> listed;
  for (const auto& spec : expected) {
    listed.insert(spec.name);
    if (!actual.contains(spec.name)) {
      diffs.push_back("missing: " + spec.name);
      continue;
    }
    const at::Tensor& t = actual.at(spec.name);
    if (t.sizes().vec() != spec.shape)
      diffs.push_back(fmt::format("{}: shape [{}] expected [{}]", spec.name,
                                  fmt::join(t.sizes(), ","), fmt::join(spec.shape, ",")));
    if (t.scalar_type() != spec.dtype)
      diffs.push_back(fmt::format("{}: dtype {} expected {}", spec.name,
                                  dtype_name(t.scalar_type()), dtype_name(spec.dtype)));
  }
  for (const auto& [name, t] : actual)
    if (listed.count(name) == 0) diffs.push_back("unexpected: " + name);
  return diffs;
}

}  // namespace psam::io
