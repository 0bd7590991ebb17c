// The field names and help of sam::SamConfig for any binder: the YAML config binder of the
// command line (model.sam) and the JSON of the model config stored with every checkpoint. Names
// follow the official build_sam.py arguments.
#pragma once

#include "psam/sam/config.h"

namespace psam::sam {

template <class B>
void describe(B& b, SamConfig& c) {
  b.size_or_auto("img_size", c.img_size,
                 "input side in pixels (images are resized and padded to it); auto = the "
                 "training store's longest side in whole patches, at most model.img_size_max");
  b.field("patch_size", c.patch_size, "ViT patch size");
  b.field("in_chans", c.in_chans, "input channels");
  b.field("encoder_embed_dim", c.encoder_embed_dim, "ViT width");
  b.field("encoder_depth", c.encoder_depth, "ViT blocks");
  b.field("encoder_num_heads", c.encoder_num_heads, "ViT attention heads");
  b.field("mlp_ratio", c.mlp_ratio, "ViT MLP width / embed dim");
  b.field("window_size", c.window_size, "windowed attention size");
  b.field("encoder_global_attn_indexes", c.encoder_global_attn_indexes,
          "blocks with global attention");
  b.field("prompt_embed_dim", c.prompt_embed_dim, "width of neck, prompt encoder and decoder");
  b.field("mask_in_chans", c.mask_in_chans, "prompt encoder mask channels");
  b.field("decoder_depth", c.decoder_depth, "two-way transformer layers");
  b.field("decoder_num_heads", c.decoder_num_heads, "two-way transformer heads");
  b.field("decoder_mlp_dim", c.decoder_mlp_dim, "two-way transformer MLP width");
  b.field("attention_downsample_rate", c.attention_downsample_rate,
          "cross-attention downsampling");
  b.field("num_multimask_outputs", c.num_multimask_outputs, "decoder multimask outputs");
  b.field("iou_head_depth", c.iou_head_depth, "IoU head layers");
  b.field("iou_head_hidden_dim", c.iou_head_hidden_dim, "IoU head width");
  b.field("pixel_mean", c.pixel_mean, "per-channel mean of 0..255 input, subtracted first");
  b.field("pixel_std", c.pixel_std, "per-channel standard deviation of 0..255 input");
}

}  // namespace psam::sam
