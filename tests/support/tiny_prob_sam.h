// A tiny Probabilistic SAM shape for tests on CPU: 64 x 64 input (4 x 4 embedding grid), one
// encoder block, small latent nets of every kind. Fresh weights; tests adjust what they need.
#pragma once

#include <string>

#include "psam/prob/prob_sam.h"

namespace psam::test {

inline prob::ProbSamConfig tiny_prob_sam_config(const std::string& latent_net) {
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
  c.latent_net = prob::latent_net_kind_from_string(latent_net);
  c.latent_input_size = 32;
  c.embedding_hidden_channels = 8;
  c.axis_aligned_filters = {4, 8};
  c.axis_aligned_convs_per_block = 1;
  return c;
}

}  // namespace psam::test
