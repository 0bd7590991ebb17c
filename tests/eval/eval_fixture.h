// A tiny synthetic store and tiny Probabilistic SAM for the evaluator and `psam eval` tests.
#pragma once

#include <string>

#include "psam/data/splits.h"
#include "psam/data/synthetic.h"
#include "psam/prob/prob_sam.h"

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

// A SAM with a 64 x 64 input (4 x 4 embedding grid), fresh weights.
inline prob::ProbSamConfig tiny_model_config(const std::string& latent_net) {
  prob::ProbSamConfig c;
  c.sam.img_size = 64;
  c.sam.encoder_embed_dim = 32;
  c.sam.encoder_depth = 1;
  c.sam.encoder_num_heads = 2;
  c.sam.window_size = 2;
  c.sam.encoder_global_attn_indexes = {0};
  c.sam.prompt_embed_dim = 16;
  c.sam.decoder_num_heads = 2;
  c.sam.decoder_mlp_dim = 32;
  c.sam.iou_head_hidden_dim = 16;
  c.sam.mask_in_chans = 4;
  c.latent_net = latent_net;
  c.latent_input_size = 32;
  c.embedding_hidden_channels = 8;
  c.axis_aligned_filters = {4, 8};
  c.axis_aligned_convs_per_block = 1;
  return c;
}

}  // namespace psam::test
