// A tiny synthetic store and tiny Probabilistic SAM for the evaluator and `psam eval` tests.
#pragma once

#include <string>

#include "psam/data/store/splits.h"
#include "psam/data/synthetic/synthetic.h"
#include "support/tiny_prob_sam.h"

namespace psam::test {

// 12 images of 32 x 32, 4 annotators, 8 oracle draws, image-level split (so the test set has a
// few cases even this small).
inline void make_tiny_store(const std::string& dir) {
  data::SynthOptions o;
  o.count = 12;
  o.size = 32;
  o.oracle_draws = 8;
  o.samples_per_patient = 1;
  o.radius_min = 3;
  o.radius_max = 8;
  data::SplitOptions split;
  split.unit = "image";
  split.fractions = {{"train", 0.5}, {"val", 0.2}, {"test", 0.3}};
  data::generate_synthetic(dir, o, split);
}

}  // namespace psam::test
