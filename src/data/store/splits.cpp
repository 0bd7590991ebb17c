#include "psam/data/store/splits.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <ostream>
#include <set>

#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "data/rng.h"
#include "data/store/store_json.h"

namespace psam::data {
namespace {

// Units per set: floor of the shares, the rest by largest remainder; then every set with a
// positive share that got nothing takes one unit from the largest set.
std::vector<int64_t> set_sizes(const std::vector<double>& shares, int64_t units) {
  const size_t n = shares.size();
  std::vector<int64_t> sizes(n);
  std::vector<double> remainder(n);
  int64_t assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    const double exact = shares[i] * static_cast<double>(units);
    sizes[i] = static_cast<int64_t>(std::floor(exact));
    remainder[i] = exact - static_cast<double>(sizes[i]);
    assigned += sizes[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t i = 0; assigned < units; i = (i + 1) % n, ++assigned) ++sizes[order[i]];
  for (size_t i = 0; i < n; ++i) {
    if (shares[i] <= 0 || sizes[i] > 0) continue;
    const size_t largest = std::max_element(sizes.begin(), sizes.end()) - sizes.begin();
    if (sizes[largest] <= 1) break;  // too few units to give every set one
    --sizes[largest];
    ++sizes[i];
  }
  return sizes;
}

}  // namespace

Splits make_splits(const std::vector<SampleMeta>& meta, const SplitOptions& options) {
  PSAM_CHECK(options.unit == "patient" || options.unit == "image",
             "split unit '" + options.unit + "': expected patient or image");
  PSAM_CHECK(!options.fractions.empty(), "split: no sets given");
  std::vector<double> shares;
  std::set<std::string> names;
  double total = 0;
  for (const auto& [name, fraction] : options.fractions) {
    PSAM_CHECK(!name.empty() && names.insert(name).second,
               "split: set names must be non-empty and distinct ('" + name + "')");
    PSAM_CHECK(std::isfinite(fraction) && fraction >= 0,
               fmt::format("split: fraction of '{}' must be >= 0, got {}", name, fraction));
    shares.push_back(fraction);
    total += fraction;
  }
  PSAM_CHECK(total > 0, "split: the fractions sum to 0");
  for (double& s : shares) s /= total;

  const bool by_patient = options.unit == "patient";
  std::set<std::string> unique;
  for (const auto& m : meta) unique.insert(by_patient ? m.patient_id : m.id);
  std::vector<std::string> units(unique.begin(), unique.end());
  Rng rng({options.seed, 0x73706C6974ULL /* "split" */});
  shuffle(units, rng);

  const std::vector<int64_t> sizes = set_sizes(shares, static_cast<int64_t>(units.size()));
  Splits splits;
  splits.unit = options.unit;
  std::vector<std::string> parts;
  size_t next = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<std::string> ids(units.begin() + next, units.begin() + next + sizes[i]);
    next += sizes[i];
    std::sort(ids.begin(), ids.end());
    splits.sets.emplace_back(options.fractions[i].first, std::move(ids));
    parts.push_back(fmt::format("{} {:g}", options.fractions[i].first, shares[i]));
  }
  splits.description =
      fmt::format("{}-level split ({}), seed {}{}", options.unit, fmt::join(parts, ", "),
                  options.seed, by_patient ? "" : "; leaks patients between sets");
  return splits;
}

Splits source_splits(const std::vector<SampleMeta>& meta, const std::vector<std::string>& sets,
                     const std::string& source) {
  PSAM_CHECK(meta.size() == sets.size(), "source_splits: one set name per sample expected");
  std::map<std::string, std::set<std::string>> sets_of_patient;
  for (size_t i = 0; i < meta.size(); ++i) sets_of_patient[meta[i].patient_id].insert(sets[i]);
  int64_t crossing = 0;
  for (const auto& entry : sets_of_patient) crossing += entry.second.size() > 1;
  Splits splits;
  splits.unit = crossing == 0 ? "patient" : "image";
  std::map<std::string, std::set<std::string>> members;
  for (size_t i = 0; i < meta.size(); ++i)
    members[sets[i]].insert(crossing == 0 ? meta[i].patient_id : meta[i].id);
  // train, val, test first, as users expect them; other names after, alphabetically.
  for (const char* name : {"train", "val", "test"}) {
    auto it = members.find(name);
    if (it == members.end()) continue;
    splits.sets.emplace_back(it->first,
                             std::vector<std::string>(it->second.begin(), it->second.end()));
    members.erase(it);
  }
  for (const auto& [name, ids] : members)
    splits.sets.emplace_back(name, std::vector<std::string>(ids.begin(), ids.end()));
  splits.description = crossing == 0
                           ? fmt::format("{} of the source, by patient", source)
                           : fmt::format(
                                 "{} of the source, by image ({} patients are in more than one "
                                 "set)",
                                 source, crossing);
  return splits;
}

void resplit_store(const std::string& dir, const SplitOptions& options) {
  const DatasetStore store = DatasetStore::open(dir);
  const Splits splits = make_splits(store.meta(), options);
  write_file_atomic((std::filesystem::path(dir) / "splits.json").string(),
                    [&](std::ostream& out) { out << splits_to_json(splits).dump(2) << "\n"; });
  DatasetStore::open(dir);  // the new file must validate like one an importer wrote
}

}  // namespace psam::data
