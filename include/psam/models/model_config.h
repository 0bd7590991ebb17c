// The `model:` section: which method (model.kind, a registry entry) and its shape. It is stored
// with every checkpoint and export (as the JSON of model_config_json), so any command rebuilds
// exactly the model that was trained.
//
// The SAM-based methods share the fields at model.* (the SAM shape under model.sam, the latent
// nets of Probabilistic SAM, the trainable parts); a method with options of its own adds a
// section model.<kind> (its struct, a member here and one line in describe()).
#pragma once

#include <string>
#include <vector>

#include "psam/models/adapter_sam/adapter_sam_config.h"
#include "psam/models/mc_dropout_sam/mc_dropout_sam_config.h"
#include "psam/models/prob_unet/prob_unet_config.h"
#include "psam/models/ua_sam/ua_sam_config.h"
#include "psam/models/usam/usam_config.h"
#include "psam/prob/prob_sam.h"
#include "psam/prob/prob_sam_fields.h"
#include "psam/sam/config_fields.h"

namespace psam::models {

struct ModelConfig {
  std::string kind = "prob_sam";  // a registered method (models::model_kinds())
  // Weights to start from: official SAM / MedSAM weights (.pth, .safetensors; the SAM part), or
  // any psam checkpoint or export (every tensor of the model that the file has). Empty: fresh
  // weights from run.seed.
  std::string init_from;
  // The largest frame that model.sam.img_size: auto resolves to (rounded down to patches).
  int64_t img_size_max = 1024;
  // SAM shape (model.sam), latent nets and trainable parts of the SAM-based methods.
  prob::ProbSamConfig prob;
  // The sections of methods with options of their own.
  ProbUnetConfig prob_unet;
  McDropoutSamConfig mc_dropout_sam;
  AdapterSamConfig adapter_sam;
  UaSamConfig ua_sam;
  UsamConfig usam;

  // psam::Error naming the first invalid field.
  void validate() const;
  bool operator==(const ModelConfig& other) const;
  bool operator!=(const ModelConfig& other) const { return !(*this == other); }
};

// model.sam.img_size: auto (sam::kAutoImgSize) -> geometry::frame_side_for the data's longest
// side, capped by img_size_max. Returns whether it was auto (a number is left as it is).
bool resolve_img_size(ModelConfig& config, int64_t height, int64_t width);

// The kinds of the registry, in registry order (defined in registry.cpp).
std::vector<std::string> model_kinds();

template <class B>
void describe(B& b, ModelConfig& c) {
  prob::ProbSamConfig& p = c.prob;
  b.choice("kind", c.kind, model_kinds(), "method; `psam info --models` lists them");
  b.field("init_from", c.init_from,
          "weights to start from: official SAM / MedSAM (.pth, .safetensors), a psam checkpoint "
          "or export; empty = fresh");
  b.field("img_size_max", c.img_size_max,
          "the largest input side model.sam.img_size: auto resolves to");
  b.choice("latent_net", p.latent_net, "prior/posterior nets; none = deterministic SAM");
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
  b.section("prob_unet", c.prob_unet, "kind prob_unet: the Probabilistic U-Net's shape");
  b.section("mc_dropout_sam", c.mc_dropout_sam, "kind mc_dropout_sam: the decoder dropout");
  b.section("adapter_sam", c.adapter_sam, "kind adapter_sam: the ViT adapters");
  b.section("ua_sam", c.ua_sam, "kind ua_sam: latent code, latent nets, adapters, prompt");
  b.section("usam", c.usam, "kind usam: the uncertainty heads on a frozen SAM");
}

// The JSON text of the whole section (every field, defaults included), and back. Reading is
// strict about types and unknown keys (psam::Error naming `source` and the key); keys the JSON
// lacks keep their defaults, so configs stored by older versions still read.
std::string model_config_json(const ModelConfig& config);
ModelConfig model_config_from_json(const std::string& json, const std::string& source);

// "key: a -> b" for every field that differs, dotted keys under model.
std::vector<std::string> model_config_differences(const ModelConfig& a, const ModelConfig& b);

}  // namespace psam::models
