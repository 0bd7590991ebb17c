#include "config/suggest.h"

#include <algorithm>
#include <limits>
#include <utility>

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

// Names other tools give psam's settings: an unknown key is also compared with these, so
// "learning_rate" (and its typos) finds "lr" rather than a key that merely looks alike.
const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> kSynonyms = {
    {"lr", {"learning_rate", "learningrate", "lrate", "base_lr"}},
    {"epochs", {"num_epochs", "n_epochs", "max_epochs", "epoch", "nepochs"}},
    {"batch_size", {"batch", "bs", "batchsize", "train_batch_size"}},
    {"weight_decay", {"wd", "decay", "l2"}},
    {"beta", {"kl_weight", "kl_beta", "beta_kl"}},
    {"latent_dim", {"z_dim", "latent_size", "zdim"}},
    {"out_dir", {"output_dir", "outdir", "output", "save_dir"}},
    {"store", {"root", "data_dir", "dataset", "data_root"}},
    {"seed", {"random_seed", "rng_seed"}},
    {"threads", {"num_threads", "nthreads"}},
};

// The distance of `name` to a candidate's last part or to any of its synonyms.
size_t name_distance(std::string_view name, std::string_view candidate_last) {
  size_t best = edit_distance(name, candidate_last);
  for (const auto& [key, synonyms] : kSynonyms) {
    if (key != candidate_last) continue;
    for (const std::string_view synonym : synonyms)
      best = std::min(best, edit_distance(name, synonym));
  }
  return best;
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
    const size_t by_last = name_distance(last, last_part(candidate));
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
