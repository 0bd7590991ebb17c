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

}  // namespace psam::cli
