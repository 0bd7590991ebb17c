#include "psam/eval/eval_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "psam/util/error.h"

namespace psam::eval {

void EvalConfig::validate() const {
  PSAM_CHECK(samples >= 1, fmt::format("eval.samples must be >= 1, got {}", samples));
  for (const int64_t n : sample_counts) {
    PSAM_CHECK(n >= 1 && n <= samples,
               fmt::format("eval.samples: every sample count must lie in [1, {}], got {}",
                           samples, n));
  }
  PSAM_CHECK(sample_counts.empty() ||
                 *std::max_element(sample_counts.begin(), sample_counts.end()) == samples,
             fmt::format("eval.samples: the largest sample count must be the N drawn ({})",
                         samples));
  PSAM_CHECK(max_cases >= 0, fmt::format("eval.max_cases must be >= 0, got {}", max_cases));
  PSAM_CHECK(figure_cases >= 0,
             fmt::format("eval.figure_cases must be >= 0, got {}", figure_cases));
  PSAM_CHECK(prompt_annotator >= 0,
             fmt::format("eval.prompt_annotator must be >= 0, got {}", prompt_annotator));
  PSAM_CHECK(bootstrap_resamples >= 1,
             fmt::format("eval.bootstrap_resamples must be >= 1, got {}", bootstrap_resamples));
  PSAM_CHECK(bootstrap_level > 0 && bootstrap_level < 1,
             fmt::format("eval.bootstrap_level must lie in (0, 1), got {}", bootstrap_level));
  // 0: the options a frameless method (prob_unet) prepared, as training's validation passes them.
  PSAM_CHECK(preprocessing.input_size >= 0,
             fmt::format("eval: input_size must be >= 1, or 0 for no SAM frame, got {}",
                         preprocessing.input_size));
}

std::vector<int64_t> EvalConfig::scored_counts() const {
  if (sample_counts.empty()) return {samples};
  std::vector<int64_t> counts = sample_counts;
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  return counts;
}

BootstrapOptions EvalConfig::bootstrap() const {
  BootstrapOptions b;
  b.resamples = bootstrap_resamples;
  b.level = bootstrap_level;
  b.seed = static_cast<uint64_t>(bootstrap_seed);
  return b;
}

}  // namespace psam::eval
