#include "config/suggest.h"

#include <algorithm>
#include <limits>

namespace psam::config {
namespace {

// A key elsewhere in the tree costs this much more than a sibling with the same last part.
constexpr size_t kMovePenalty = 2;
// Only this many leading characters of an unknown key are compared: psam's keys are shorter, and
// a garbage key of kilobytes (fuzzing found one) made the suggestion quadratic in its length.
constexpr size_t kComparedChars = 64;

std::string_view parent_of(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : key.substr(0, dot);
}

std::string_view last_part(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rows of the dynamic programme: two back are needed for swaps.
  std::vector<size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string closest_key(const std::string& full_key, const std::vector<std::string>& candidates) {
  const std::string_view parent = parent_of(full_key);
  const std::string_view key = std::string_view(full_key).substr(0, kComparedChars);
  const std::string_view last = last_part(full_key).substr(0, kComparedChars);
  std::string best;
  size_t best_cost = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : candidates) {
    const size_t by_last = edit_distance(last, last_part(candidate));
    const size_t cost = parent_of(candidate) == parent
                            ? by_last
                            : std::min(edit_distance(key, candidate), by_last + kMovePenalty);
    if (cost < best_cost) {
      best_cost = cost;
      best = candidate;
    }
  }
  return best;
}

}  // namespace psam::config
