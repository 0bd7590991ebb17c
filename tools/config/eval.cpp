// The `eval:` section: psam::eval::EvalConfig. The image preprocessing is not repeated here:
// evaluation uses the run's `data:` options, as training did.
#include "config/config.h"
#include "psam/eval/evaluator.h"

namespace psam::config {

void bind(Binder& b, eval::EvalConfig& c) {
  b.counts("samples", c.samples, c.sample_counts,
           "latent samples N per case (a multiple of K for HM-IoU); a list [16, 32, 100] draws "
           "the largest once and scores the first n of them for each n");
  b.field("split", c.split, "store split psam eval scores by default");
  b.choice("ged_convention", c.metrics.ged_convention,
           "IoU of empty masks in GED and diversity (docs/metrics.md)");
  b.choice("hm_iou_convention", c.metrics.hm_iou_convention,
           "IoU convention of HM-IoU");
  b.choice("hm_iou_matching", c.metrics.hm_iou_matching,
           "transport: every sample matched, N/M per annotator (MoSE; the usual column); "
           "best_of_n: each annotator to a different sample, the rest unmatched (Flow-SSN; "
           "grows with N, not comparable)");
  b.choice("prompt", c.prompt, "mask the prompt box is taken from");
  b.field("prompt_annotator", c.prompt_annotator, "the annotator of prompt: annotator");
  b.field("bootstrap_resamples", c.bootstrap_resamples, "bootstrap replicates of each mean");
  b.field("bootstrap_level", c.bootstrap_level, "coverage of the bootstrap intervals");
  b.field("bootstrap_seed", c.bootstrap_seed, "seed of the bootstrap resampling");
  b.field("seed", c.seed, "seed of the latent draws (per case: case_seed(seed, index))");
  b.field("max_cases", c.max_cases, "evaluate only the first max_cases; 0 = all");
  b.field("figure_cases", c.figure_cases, "cases drawn in samples.png");
  b.choice("tta", c.tta,
           "test-time augmentation: none, or flips (the image and its three mirrors; sample and "
           "mean maps mapped back and averaged)");
}

}  // namespace psam::config
