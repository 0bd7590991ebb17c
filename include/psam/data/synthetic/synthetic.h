// A synthetic benchmark with known annotator ambiguity: CT-like lung patches (HU) with a nodule
// whose boundary is fuzzy and whose outline is irregular, sometimes with an attached structure
// of ambiguous membership (a vessel stub or spicule). Each annotator's mask is a draw from a
// known distribution given the image:
//   - the lesion is "clear" or "equivocal" (drawn per sample, visible as lower contrast); an
//     annotator leaves it unmarked with probability empty_prob_clear / empty_prob_equivocal;
//   - a marking annotator picks a threshold level t ~ U(level_min, level_max) of the fuzzy
//     edge's membership (the iso-line they call "the boundary"), with their own small smooth
//     outline deviation (reader_wobble px, hand-drawn contours never coincide), and
//   - includes the attached structure with probability include_attached_prob.
// With require_marked (default), the K annotators of a sample are independent draws conditioned
// on at least one marking the lesion, as LIDC keeps a slice only if some reader outlined it.
// Oracle draws follow the same single-annotator distribution (the marginal of one of the K), so
// they give the best achievable GED. The defaults reproduce the LIDC-IDRI reader statistics
// (docs/data.md). Everything is a function of (seed, sample index): any thread count gives the
// same bytes.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "psam/data/synthetic/annotator_stats.h"
#include "psam/data/store/splits.h"
#include "psam/data/store/store.h"

namespace psam::data {

struct SynthOptions {
  int64_t count = 1000;
  uint64_t seed = 0;
  int64_t size = 128;               // patch side (pixels) of square patches
  int64_t height = 0;               // rows of non-square patches; 0 = size
  int64_t width = 0;                // columns of non-square patches; 0 = size
  int64_t annotators = 4;           // K
  int64_t oracle_draws = 16;        // M (0: no oracle_masks.npy)
  int64_t samples_per_patient = 4;  // patches sharing a "patient" (scanner noise, lung density)

  // Nodule: mean radius log-uniform in [radius_min, radius_max] px; outline harmonics 2..5 with
  // relative amplitude up to `irregularity`; logistic edge width in [edge_min, edge_max] px.
  double radius_min = 2.2;
  double radius_max = 14.0;
  double irregularity = 0.15;
  double edge_min = 0.4;
  double edge_max = 1.2;
  double subsolid_share = 0.25;  // ground-glass (-650..-350 HU) instead of solid (-60..60 HU)
  double attached_prob = 0.35;   // share of nodules with an attached structure

  // Annotators (see the file comment).
  double equivocal_share = 0.5;
  double empty_prob_clear = 0.1;
  double empty_prob_equivocal = 0.75;
  bool require_marked = true;
  double level_min = 0.25;
  double level_max = 0.75;
  double reader_wobble = 0.6;
  double include_attached_prob = 0.5;

  int64_t rows() const { return height > 0 ? height : size; }
  int64_t cols() const { return width > 0 ? width : size; }
};

// Throws psam::Error naming the first option out of range.
void validate(const SynthOptions& options);

struct SynthSample {
  at::Tensor image;   // float [H,W], HU (H = rows(), W = cols())
  at::Tensor masks;   // uint8 [K,H,W]
  at::Tensor oracle;  // uint8 [M,H,W] (undefined when M = 0)
  // Latent membership fields, float [H,W] in [0,1]. A marking annotator's mask is
  // max(nodule', included ? attached : 0) > level, where nodule' is `nodule` with the outline
  // moved by the annotator's wobble (nodule' = nodule when reader_wobble = 0). `attached` is
  // zero when there is none.
  at::Tensor nodule;
  at::Tensor attached;
  SampleMeta meta;  // extra fields: the latent draws (radius, edge width, levels, ...)
};

// Sample `index` of the set that `options` defines.
SynthSample synth_sample(const SynthOptions& options, int64_t index);

// Generates the whole set into a new store at out_dir (split by `split`) and returns the
// realised annotator statistics (also recorded in dataset.json's provenance).
AnnotatorStats generate_synthetic(const std::string& out_dir, const SynthOptions& options,
                                  const SplitOptions& split, bool overwrite = false);

}  // namespace psam::data
