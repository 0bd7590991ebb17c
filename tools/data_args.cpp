#include "data_args.h"

#include <fmt/format.h>

#include <sstream>
#include <vector>

#include "psam/util/error.h"

namespace psam::cli {

data::SplitOptions SplitArgs::options() const {
  auto items = [](const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) out.push_back(item);
    return out;
  };
  const auto shares = items(fractions), set_names = items(names);
  PSAM_CHECK(shares.size() == set_names.size(),
             fmt::format("--fractions has {} values but --split-names {} names", shares.size(),
                         set_names.size()));
  data::SplitOptions o;
  o.unit = by;
  o.seed = seed;
  o.fractions.clear();
  for (size_t i = 0; i < shares.size(); ++i) {
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(shares[i], &used);
      PSAM_CHECK(used == shares[i].size(), "");
    } catch (const std::exception&) {
      fail("--fractions: '" + shares[i] + "' is not a number");
    }
    o.fractions.emplace_back(set_names[i], v);
  }
  return o;
}

namespace {

// "HxW" or "S" (S x S), positive.
data::ImageSize parse_size(const std::string& text, const char* option) {
  const auto number = [&](const std::string& part) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      PSAM_CHECK(used == part.size() && v > 0, "");
      return static_cast<int64_t>(v);
    } catch (const std::exception&) {
      fail(fmt::format("{} '{}': expected HxW or S (positive whole numbers)", option, text));
    }
  };
  const size_t x = text.find('x');
  if (x == std::string::npos) return {number(text), number(text)};
  return {number(text.substr(0, x)), number(text.substr(x + 1))};
}

}  // namespace

void ImageImportArgs::apply(const StoreOutput& output, data::ImageImportOptions& o) const {
  o.split = output.split.options();
  o.overwrite = output.force;
  o.threshold = threshold;
  o.missing = value_of<data::MissingMask>(missing, "--missing-mask");
  if (!crop.empty()) o.crop = parse_size(crop, "--crop");
  if (!resize.empty()) o.resize = parse_size(resize, "--resize");
}

}  // namespace psam::cli
