// What an evaluation does (psam/eval/evaluator.h): sample count, metric conventions, prompt,
// bootstrap, seeds. Plain data; the CLI fills it from the `eval:` section of a config.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "psam/data/loader/boxes.h"
#include "psam/data/loader/loader.h"
#include "psam/eval/bootstrap.h"
#include "psam/eval/metrics.h"
#include "psam/geometry/dihedral.h"

namespace psam::eval {

struct EvalConfig {
  int64_t samples = 16;        // N latent samples per case (a multiple of K for HM-IoU)
  // Several sample counts in one evaluation (GED_16, GED_32, GED_100 as papers report them): one
  // stream of N = max draws per case, every n scored on its first n samples (the smallest n's
  // samples are exactly an N = n evaluation's). Empty: only `samples`; otherwise its largest
  // value equals `samples` (the config layer keeps them so).
  std::vector<int64_t> sample_counts;
  std::string split = "test";  // the store split the caller evaluates (recorded in reports)
  MetricOptions metrics;       // GED / diversity and HM-IoU IoU conventions
  // Which mask the prompt box is taken from; kAnnotator uses annotator `prompt_annotator`.
  data::PromptSource prompt = data::PromptSource::kUnion;
  int64_t prompt_annotator = 0;
  // Percentile bootstrap of each mean over cases (psam/eval/bootstrap.h).
  int64_t bootstrap_resamples = 1000;
  double bootstrap_level = 0.95;
  int64_t bootstrap_seed = 0;
  int64_t seed = 0;          // latent sampling seed (see case_seed)
  int64_t max_cases = 0;     // evaluate the first max_cases of the indices; 0 = all
  int64_t figure_cases = 4;  // keep the pictures of the first few cases for samples.png
  // The loader's per-image preprocessing: input_size, intensity mapping and window, workers.
  // The evaluator sets the rest itself (store order, no jitter, prompt as above).
  data::LoaderOptions preprocessing;
  // Test-time augmentation: each case is also predicted in these views of the image, every
  // sample's probability map mapped back and averaged over the views (sample j of each view
  // from the same latent stream) before any metric.
  geometry::TtaMode tta = geometry::TtaMode::kNone;

  BootstrapOptions bootstrap() const;
  // The n scored, ascending: sample_counts, or {samples} when it is empty.
  std::vector<int64_t> scored_counts() const;
  // psam::Error naming the first invalid field.
  void validate() const;
};

}  // namespace psam::eval
