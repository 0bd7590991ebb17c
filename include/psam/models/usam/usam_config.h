// The model.usam section: UncertainSAM's heads on a frozen SAM (docs/usam.md).
#pragma once

#include <cstdint>
#include <string>

namespace psam::models {

struct UsamConfig {
  // The mask token whose decoder output each head reads beside the IoU token's: -1 = the token
  // that made the returned mask (the default), 0..T-1 = that mask token always.
  int64_t token = -1;
  // The ground truth of a store sample: -1 = each annotator in turn (every annotator's mask is
  // a target of its own, so their disagreement shows up as a task gap), k = annotator k only.
  int64_t annotator = -1;
  // SAM's multimask outputs (mask tokens 1..3, the one SAM's IoU head ranks first returned) or
  // its single output (mask token 0; a SAM trained by psam trains only that one).
  bool multimask = true;
  // The denser prompt of the prompt gap: the box plus the ground truth's centre point and this
  // many random foreground points.
  int64_t dense_points = 7;
  int64_t hidden = 512;  // width of the heads' two hidden layers
  // Keep each image+prompt's decoder tokens and targets in memory after the first epoch, so
  // training the heads runs neither the encoder nor the decoder again.
  bool cache_tokens = true;
  // The model gap's larger SAM: its weights (official SAM, a psam run directory or file with a
  // plain SAM part), run on this SAM's frame. Empty: no model_gap head.
  std::string model_gap_from;
  // The larger SAM's multimask outputs (true, for official weights) or its single output.
  bool model_gap_multimask = true;

  bool model_gap() const { return !model_gap_from.empty(); }
  void validate() const;  // psam::Error naming the first invalid field
};

template <class B>
void describe(B& b, UsamConfig& c) {
  b.field("token", c.token,
          "mask token the heads read: -1 = the one that made the mask, else its index");
  b.field("annotator", c.annotator,
          "ground truth on multi-rater stores: -1 = each annotator in turn, else its index");
  b.field("multimask", c.multimask,
          "SAM's three multimask outputs (true) or its single output (mask token 0)");
  b.field("dense_points", c.dense_points,
          "prompt gap: random foreground points added to the box and centre point");
  b.field("hidden", c.hidden, "width of the heads' hidden layers");
  b.field("cache_tokens", c.cache_tokens,
          "keep decoder tokens and targets per image+prompt in memory while training");
  b.field("model_gap_from", c.model_gap_from,
          "model_gap head: weights of a larger SAM (official, psam run or file); empty = none");
  b.field("model_gap_multimask", c.model_gap_multimask,
          "model_gap: the larger SAM's multimask outputs (true) or its single output");
}

}  // namespace psam::models
