// Pretrained SAM weights at another input size: the absolute position embedding and the
// relative-position tables of the global-attention blocks depend on the token grid, so loading a
// 1024 px checkpoint into a model with a smaller img_size resizes them (as SAM's own get_rel_pos
// does for the tables; bicubic for pos_embed, as SAM-Med2D and MedSAM's smaller-input variants).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "psam/io/tensor_dict.h"

namespace psam::sam {

// pos_embed [1,H,W,C] -> [1,h,w,C], bicubic with align_corners false.
at::Tensor resize_pos_embed(const at::Tensor& pos_embed, int64_t h, int64_t w);
// rel_pos [L,C] -> [length,C], linear with align_corners false (get_rel_pos's interpolation).
at::Tensor resize_rel_pos(const at::Tensor& rel_pos, int64_t length);

// `state` with every "...image_encoder.pos_embed" and "...image_encoder.blocks.N.attn.rel_pos_h/w"
// whose shape differs from the tensor of the same name from "image_encoder." on in `target` (a
// model's state dict, any prefix) resized to that shape; everything else as is. Logs what was
// resized, naming `source`.
io::TensorDict resize_position_tables(const io::TensorDict& state, const io::TensorDict& target,
                                      const std::string& source);

}  // namespace psam::sam
