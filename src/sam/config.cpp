#include "psam/sam/config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "psam/util/error.h"

namespace psam::sam {
namespace {

void check_positive(int64_t value, const char* field) {
  PSAM_CHECK(value > 0, fmt::format("SamConfig.{} must be positive, got {}", field, value));
}

void check_divides(int64_t divisor, int64_t value, const char* what) {
  PSAM_CHECK(divisor > 0 && value % divisor == 0,
             fmt::format("SamConfig: {} ({} must be divisible by {})", what, value, divisor));
}

// Shapes read from a state dict, with errors that say why the key was needed.
class ShapeReader {
 public:
  explicit ShapeReader(const io::TensorDict& dict) : dict_(dict) {}

  int64_t dim(const std::string& key, int64_t d) const {
    PSAM_CHECK(
        dict_.contains(key),
        fmt::format("state dict: no tensor '{}' (needed to infer the SAM model shape)", key));
    const auto& t = dict_.at(key);
    PSAM_CHECK(
        t.dim() > d,
        fmt::format("state dict: tensor '{}' has {} dims, expected more than {}", key, t.dim(), d));
    return t.size(d);
  }
  // Number of consecutive indices i for which fmt(pattern, i) is a key.
  int64_t count(const std::string& pattern) const {
    int64_t n = 0;
    while (dict_.contains(fmt::format(fmt::runtime(pattern), n))) ++n;
    return n;
  }

 private:
  const io::TensorDict& dict_;
};

}  // namespace

void SamConfig::validate() const {
  PSAM_CHECK(img_size != kAutoImgSize,
             "SamConfig.img_size: auto is resolved from the training store by psam train (or "
             "models::resolve_img_size); give a number here");
  check_positive(img_size, "img_size");
  check_positive(patch_size, "patch_size");
  check_positive(in_chans, "in_chans");
  check_positive(encoder_embed_dim, "encoder_embed_dim");
  check_positive(encoder_depth, "encoder_depth");
  check_positive(encoder_num_heads, "encoder_num_heads");
  check_positive(prompt_embed_dim, "prompt_embed_dim");
  check_positive(mask_in_chans, "mask_in_chans");
  check_positive(decoder_num_heads, "decoder_num_heads");
  check_positive(decoder_mlp_dim, "decoder_mlp_dim");
  check_positive(attention_downsample_rate, "attention_downsample_rate");
  check_positive(num_multimask_outputs, "num_multimask_outputs");
  check_positive(iou_head_depth, "iou_head_depth");
  check_positive(iou_head_hidden_dim, "iou_head_hidden_dim");
  PSAM_CHECK(decoder_depth >= 0,
             fmt::format("SamConfig.decoder_depth must be >= 0, got {}", decoder_depth));
  PSAM_CHECK(window_size >= 0,
             fmt::format("SamConfig.window_size must be >= 0 (0 = global), got {}", window_size));
  PSAM_CHECK(mlp_ratio > 0 && static_cast<int64_t>(encoder_embed_dim * mlp_ratio) > 0,
             fmt::format("SamConfig.mlp_ratio must give a positive MLP width, got {}", mlp_ratio));
  check_divides(patch_size, img_size, "img_size must be a whole number of patches");
  check_divides(encoder_num_heads, encoder_embed_dim, "encoder_embed_dim per encoder head");
  // The mask decoder upscales with prompt_embed_dim/4 then /8 channels; the positional
  // encoding splits the width into sin and cos halves.
  check_divides(8, prompt_embed_dim, "prompt_embed_dim for the /4 and /8 upscaling channels");
  check_divides(4, mask_in_chans, "mask_in_chans for the mask_in_chans/4 first downscaling conv");
  check_divides(decoder_num_heads, prompt_embed_dim, "prompt_embed_dim per decoder head");
  check_divides(attention_downsample_rate, prompt_embed_dim,
                "prompt_embed_dim per attention_downsample_rate");
  check_divides(decoder_num_heads, prompt_embed_dim / attention_downsample_rate,
                "downsampled cross-attention width per decoder head");
  std::set<int64_t> seen;
  for (int64_t i : encoder_global_attn_indexes) {
    PSAM_CHECK(
        i >= 0 && i < encoder_depth,
        fmt::format("SamConfig.encoder_global_attn_indexes: {} is not a block index (depth {})", i,
                    encoder_depth));
    PSAM_CHECK(seen.insert(i).second,
               fmt::format("SamConfig.encoder_global_attn_indexes: {} appears twice", i));
  }
  for (size_t c = 0; c < pixel_std.size(); ++c)
    PSAM_CHECK(pixel_std[c] != 0, fmt::format("SamConfig.pixel_std[{}] must not be 0", c));
}

bool SamConfig::operator==(const SamConfig& o) const {
  return img_size == o.img_size && patch_size == o.patch_size && in_chans == o.in_chans &&
         encoder_embed_dim == o.encoder_embed_dim && encoder_depth == o.encoder_depth &&
         encoder_num_heads == o.encoder_num_heads && mlp_ratio == o.mlp_ratio &&
         window_size == o.window_size &&
         encoder_global_attn_indexes == o.encoder_global_attn_indexes &&
         prompt_embed_dim == o.prompt_embed_dim && mask_in_chans == o.mask_in_chans &&
         decoder_depth == o.decoder_depth && decoder_num_heads == o.decoder_num_heads &&
         decoder_mlp_dim == o.decoder_mlp_dim &&
         attention_downsample_rate == o.attention_downsample_rate &&
         num_multimask_outputs == o.num_multimask_outputs && iou_head_depth == o.iou_head_depth &&
         iou_head_hidden_dim == o.iou_head_hidden_dim && pixel_mean == o.pixel_mean &&
         pixel_std == o.pixel_std;
}

SamConfig vit_b() { return SamConfig{}; }

SamConfig vit_l() {
  SamConfig c;
  c.encoder_embed_dim = 1024;
  c.encoder_depth = 24;
  c.encoder_num_heads = 16;
  c.encoder_global_attn_indexes = {5, 11, 17, 23};
  return c;
}

SamConfig vit_h() {
  SamConfig c;
  c.encoder_embed_dim = 1280;
  c.encoder_depth = 32;
  c.encoder_num_heads = 16;
  c.encoder_global_attn_indexes = {7, 15, 23, 31};
  return c;
}

SamConfig preset(const std::string& name) {
  if (name == "vit_b") return vit_b();
  if (name == "vit_l") return vit_l();
  if (name == "vit_h") return vit_h();
  fail(fmt::format("unknown SAM preset '{}' (expected vit_b, vit_l or vit_h)", name));
}

SamConfig infer_sam_config(const io::TensorDict& state_dict, int64_t decoder_num_heads) {
  const ShapeReader r(state_dict);
  SamConfig c;
  c.encoder_embed_dim = r.dim("image_encoder.patch_embed.proj.weight", 0);
  c.in_chans = r.dim("image_encoder.patch_embed.proj.weight", 1);
  c.patch_size = r.dim("image_encoder.patch_embed.proj.weight", 2);
  const int64_t grid = r.dim("image_encoder.pos_embed", 1);
  c.img_size = grid * c.patch_size;
  c.encoder_depth = r.count("image_encoder.blocks.{}.norm1.weight");
  PSAM_CHECK(c.encoder_depth > 0,
             "state dict: no image_encoder.blocks.* (is it a SAM state dict?)");
  const int64_t head_dim = r.dim("image_encoder.blocks.0.attn.rel_pos_h", 1);
  PSAM_CHECK(c.encoder_embed_dim % head_dim == 0,
             fmt::format("state dict: rel_pos width {} does not divide embed dim {}", head_dim,
                         c.encoder_embed_dim));
  c.encoder_num_heads = c.encoder_embed_dim / head_dim;
  const int64_t mlp_dim = r.dim("image_encoder.blocks.0.mlp.lin1.weight", 0);
  c.mlp_ratio = static_cast<double>(mlp_dim) / static_cast<double>(c.encoder_embed_dim);
  // The model truncates embed * ratio like Python's int(); make sure that gives mlp_dim back.
  if (static_cast<int64_t>(c.encoder_embed_dim * c.mlp_ratio) != mlp_dim)
    c.mlp_ratio = std::nextafter(c.mlp_ratio, 2 * c.mlp_ratio);

  // A global block's relative-position table spans the whole token grid, a windowed block's
  // only its window. A window as large as the grid behaves exactly like global attention.
  c.encoder_global_attn_indexes.clear();
  c.window_size = 0;
  for (int64_t i = 0; i < c.encoder_depth; ++i) {
    const int64_t span = r.dim(fmt::format("image_encoder.blocks.{}.attn.rel_pos_h", i), 0);
    if (span == 2 * grid - 1) {
      c.encoder_global_attn_indexes.push_back(i);
      continue;
    }
    const int64_t window = (span + 1) / 2;
    PSAM_CHECK(c.window_size == 0 || c.window_size == window,
               fmt::format("state dict: blocks use different window sizes ({} and {})",
                           c.window_size, window));
    c.window_size = window;
  }

  c.prompt_embed_dim = r.dim("image_encoder.neck.0.weight", 0);
  c.mask_in_chans = r.dim("prompt_encoder.mask_downscaling.3.weight", 0);
  c.decoder_depth = r.count("mask_decoder.transformer.layers.{}.norm1.weight");
  if (c.decoder_depth > 0)
    c.decoder_mlp_dim = r.dim("mask_decoder.transformer.layers.0.mlp.lin1.weight", 0);
  c.decoder_num_heads = decoder_num_heads;
  const int64_t internal =
      r.dim("mask_decoder.transformer.final_attn_token_to_image.q_proj.weight", 0);
  c.attention_downsample_rate = c.prompt_embed_dim / internal;
  c.num_multimask_outputs = r.dim("mask_decoder.mask_tokens.weight", 0) - 1;
  c.iou_head_depth = r.count("mask_decoder.iou_prediction_head.layers.{}.weight");
  if (c.iou_head_depth > 1)
    c.iou_head_hidden_dim = r.dim("mask_decoder.iou_prediction_head.layers.0.weight", 0);
  c.validate();
  return c;
}

}  // namespace psam::sam
