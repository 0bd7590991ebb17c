// The field names and help of prob::TrainableParts for any binder (see sam/config_fields.h).
#pragma once

#include "psam/prob/prob_sam.h"

namespace psam::prob {

template <class B>
void describe(B& b, TrainableParts& c) {
  b.field("image_encoder", c.image_encoder, "train the ViT (no embedding cache then)");
  b.field("prompt_encoder", c.prompt_encoder, "train the prompt encoder");
  b.field("mask_decoder", c.mask_decoder, "train the mask decoder");
  b.field("latent_nets", c.latent_nets, "train the prior and posterior nets");
  b.field("z_projector", c.z_projector, "train fcomb.z_projector");
}

}  // namespace psam::prob
