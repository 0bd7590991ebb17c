// The model.ua_sam section: UA-SAM's latent code, its prior/posterior nets, the adapters'
// bottleneck, res_MLP training and the prompt. The SAM shape and the trainable SAM parts are the
// shared model.sam / model.trainable fields; model.latent_net must be none (UA-SAM's latent nets
// are its own, configured here).
#pragma once

#include <cstdint>
#include <vector>

#include "psam/util/names.h"

namespace psam::models {

// The prompt UA-SAM is trained and evaluated with: the box, or one foreground point at the
// box's centre (x, y in that order, unlike the reference, which passes (row, col) as (x, y)).
enum class UaSamPrompt { kBox, kPoint };
inline constexpr NameTable<UaSamPrompt, 2> kUaSamPromptNames = {{
    {UaSamPrompt::kBox, "box"},
    {UaSamPrompt::kPoint, "point"},
}};
constexpr const auto& enum_names(UaSamPrompt) { return kUaSamPromptNames; }

struct UaSamConfig {
  int64_t latent_dim = 6;  // L
  // Channels of each block of the axis-aligned prior/posterior (Probabilistic_model.*).
  std::vector<int64_t> num_filters = {32, 64, 128, 192};
  // The latent nets resize the frame to this size first; 0 = the frame as is (the reference).
  int64_t latent_input_size = 0;
  double mlp_ratio = 0.25;  // adapter bottleneck width / ViT width (the reference: 0.25)
  // res_MLP learns (psam); false keeps it at its initial weights, as the reference (which never
  // gives it to the optimiser).
  bool train_res_mlp = true;
  UaSamPrompt prompt = UaSamPrompt::kBox;

  void validate() const;  // psam::Error naming the first invalid field
};

template <class B>
void describe(B& b, UaSamConfig& c) {
  b.field("latent_dim", c.latent_dim, "dimension of z");
  b.field("num_filters", c.num_filters, "channels of each prior/posterior block");
  b.field("latent_input_size", c.latent_input_size,
          "prior/posterior resize the frame to this; 0 = as is");
  b.field("mlp_ratio", c.mlp_ratio, "adapter bottleneck width / ViT width");
  b.field("train_res_mlp", c.train_res_mlp,
          "res_MLP learns; false: frozen at its initial weights (the reference)");
  b.choice("prompt", c.prompt, "box, or one point at the box centre");
}

}  // namespace psam::models
