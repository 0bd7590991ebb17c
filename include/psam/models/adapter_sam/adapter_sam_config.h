// The model.adapter_sam section: the Med-SA adapters of adapter SAM (Medical SAM Adapter's
// AdapterBlock: mlp_ratio 0.25, scale 0.5).
#pragma once

#include "psam/sam/adapter.h"

namespace psam::models {

struct AdapterSamConfig {
  sam::AdapterOptions adapters;

  void validate() const;  // psam::Error naming the first invalid field
};

template <class B>
void describe(B& b, AdapterSamConfig& c) {
  b.field("mlp_ratio", c.adapters.mlp_ratio, "adapter bottleneck width / ViT width");
  b.field("scale", c.adapters.scale, "weight of the adapter parallel to each ViT MLP");
}

}  // namespace psam::models
