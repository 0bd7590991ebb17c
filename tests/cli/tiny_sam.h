// The smallest SAM the CLI tests train (32 px frame, 4 x 4 tokens of width 16, two encoder
// blocks), as the YAML flow mapping of `model.sam`, so each test's config states only what it is
// about.
#pragma once

namespace psam::test {

inline constexpr const char* kTinySam =
    "{img_size: 32, patch_size: 8, encoder_embed_dim: 16, encoder_depth: 2, encoder_num_heads: 2,"
    " window_size: 2, encoder_global_attn_indexes: [1], prompt_embed_dim: 16, mask_in_chans: 4,"
    " decoder_depth: 1, decoder_num_heads: 2, decoder_mlp_dim: 32, iou_head_hidden_dim: 16}";

}  // namespace psam::test
