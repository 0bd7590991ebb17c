#include "psam/eval/eval_config.h"

#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::eval {

void EvalConfig::validate() const {
  PSAM_CHECK(samples >= 1, fmt::format("eval.samples must be >= 1, got {}", samples));
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

BootstrapOptions EvalConfig::bootstrap() const {
  BootstrapOptions b;
  b.resamples = bootstrap_resamples;
  b.level = bootstrap_level;
  b.seed = static_cast<uint64_t>(bootstrap_seed);
  return b;
}

}  // namespace psam::eval
