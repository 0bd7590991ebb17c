// The shape of a SAM model. Field names follow the arguments of the official
// segment_anything builders (build_sam.py) and module constructors, so a researcher can map an
// official or fine-tuned variant onto it field by field.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "psam/io/tensor_dict.h"

namespace psam::sam {

// img_size before it is resolved from the data (a config's `img_size: auto`).
inline constexpr int64_t kAutoImgSize = 0;

struct SamConfig {
  // ImageEncoderViT
  int64_t img_size = 1024;  // kAutoImgSize until resolved
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t encoder_embed_dim = 768;
  int64_t encoder_depth = 12;
  int64_t encoder_num_heads = 12;
  double mlp_ratio = 4.0;
  int64_t window_size = 14;
  std::vector<int64_t> encoder_global_attn_indexes = {2, 5, 8, 11};
  // Shared width of the neck output, the prompt encoder and the mask decoder.
  int64_t prompt_embed_dim = 256;
  // PromptEncoder
  int64_t mask_in_chans = 16;
  // TwoWayTransformer
  int64_t decoder_depth = 2;
  int64_t decoder_num_heads = 8;
  int64_t decoder_mlp_dim = 2048;
  int64_t attention_downsample_rate = 2;
  // MaskDecoder
  int64_t num_multimask_outputs = 3;
  int64_t iou_head_depth = 3;
  int64_t iou_head_hidden_dim = 256;
  // Sam (pixel normalisation of 0..255 RGB input)
  std::array<double, 3> pixel_mean = {123.675, 116.28, 103.53};
  std::array<double, 3> pixel_std = {58.395, 57.12, 57.375};

  int64_t image_embedding_size() const { return img_size / patch_size; }
  // psam::Error naming the first inconsistent field (e.g. a width not divisible by the heads).
  void validate() const;

  bool operator==(const SamConfig& other) const;
  bool operator!=(const SamConfig& other) const { return !(*this == other); }
};

// The official presets (build_sam_vit_b / _l / _h).
SamConfig vit_b();
SamConfig vit_l();
SamConfig vit_h();
// vit_b / vit_l / vit_h by name; psam::Error for any other name.
SamConfig preset(const std::string& name);

// Reads the model shape off a flat SAM state dict (official key names). The decoder's head count
// changes no tensor shape, so it cannot be inferred and is taken from decoder_num_heads.
SamConfig infer_sam_config(const io::TensorDict& state_dict, int64_t decoder_num_heads = 8);

}  // namespace psam::sam
