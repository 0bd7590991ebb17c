// "Did you mean" hints for unknown config keys.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace psam::config {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// adjacent characters ("optimiser" -> "optimizer" is 1, "lr" -> "rl" is 1).
size_t edit_distance(std::string_view a, std::string_view b);

// The valid dotted key closest to an unknown one: keys under the same parent compare by their
// last part; keys elsewhere compare by the whole dotted key or, at a small penalty, by their last
// part (so a top-level 'seed' finds 'run.seed'). Ties go to the earlier candidate. Empty when
// there are no candidates.
std::string closest_key(const std::string& key, const std::vector<std::string>& candidates);

}  // namespace psam::config
