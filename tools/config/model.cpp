// Binding of the `model:` section. SAM shapes are given field by field (names as in the
// official build_sam.py); configs/_base_/model/ holds the vit_b / vit_l / vit_h presets and the
// tiny shape, to inherit with _base_.
#include "psam/train/model_config.h"

#include "config/config.h"

namespace psam::config {

void bind(Binder& b, sam::SamConfig& c) {
  b.field("img_size", c.img_size, "input side in pixels (images are resized and padded to it)");
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
}

void bind(Binder& b, prob::TrainableParts& c) {
  b.field("image_encoder", c.image_encoder, "train the ViT (no embedding cache then)");
  b.field("prompt_encoder", c.prompt_encoder, "train the prompt encoder");
  b.field("mask_decoder", c.mask_decoder, "train the mask decoder");
  b.field("latent_nets", c.latent_nets, "train the prior and posterior nets");
  b.field("z_projector", c.z_projector, "train fcomb.z_projector");
}

void bind(Binder& b, train::ModelConfig& c) {
  prob::ProbSamConfig& p = c.prob;
  b.field("init_from", c.init_from,
          "weights to start from: official SAM / MedSAM (.pth, .safetensors), a psam checkpoint "
          "or export; empty = fresh");
  b.choice("latent_net", p.latent_net, {"reference", "axis_aligned", "embedding", "none"},
           "prior/posterior nets; none = deterministic SAM");
  b.field("latent_dim", p.latent_dim, "dimension of z");
  b.field("latent_input_size", p.latent_input_size,
          "pixel latent nets resize their input to this; 0 = SAM's input size");
  b.field("projector_hidden", p.projector_hidden, "z projector width; 0 = prompt width");
  b.field("axis_aligned_filters", p.axis_aligned_filters, "axis_aligned: filters per block");
  b.field("axis_aligned_convs_per_block", p.axis_aligned_convs_per_block,
          "axis_aligned: convolutions per block");
  b.field("embedding_hidden_channels", p.embedding_hidden_channels, "embedding: conv width");
  b.section("trainable", p.trainable, "parts the optimiser updates");
  b.section("sam", p.sam, "SAM shape (defaults: vit_b)");
}

}  // namespace psam::config
