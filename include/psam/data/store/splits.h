// Train/val/test splits. The default is by patient: all slices of a patient land in one set, so
// no test patient is seen in training. The reference work split at image level instead; that
// option is kept for reproducing its numbers, and it leaks patients between the sets.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "psam/data/store/store.h"

namespace psam::data {

struct SplitOptions {
  std::string unit = "patient";  // patient | image
  // Set names and their shares of the units (normalised to sum 1).
  std::vector<std::pair<std::string, double>> fractions = {
      {"train", 0.6}, {"val", 0.2}, {"test", 0.2}};
  uint64_t seed = 0;
};

// Sorts the units (patient ids or sample ids), shuffles them with the seed and cuts the list by
// the fractions (largest remainder, and at least one unit for every set with a positive share
// when there are enough units). The result depends only on the set of ids, not on sample order.
Splits make_splits(const std::vector<SampleMeta>& meta, const SplitOptions& options);

// The split a source comes with (e.g. its train/, val/, test/ folders): sample i is in set
// `sets[i]`. By patient when no patient is in two sets, else by sample id (the patients in more
// than one set are counted in the description). train, val and test come first, other set
// names after, alphabetically. `source` says where the sets come from ("the split folders").
Splits source_splits(const std::vector<SampleMeta>& meta, const std::vector<std::string>& sets,
                     const std::string& source);

// Replaces DIR/splits.json (atomically) with make_splits(meta of DIR, options).
void resplit_store(const std::string& dir, const SplitOptions& options);

}  // namespace psam::data
