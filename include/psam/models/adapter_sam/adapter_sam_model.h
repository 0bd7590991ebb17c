// model.kind adapter_sam: the deterministic adapter baseline in the style of Medical SAM Adapter
// (Med-SA, Wu et al. 2023): a bottleneck adapter after each ViT block's attention (with skip) and
// one parallel to its MLP (scaled), under Med-SA's names (sam.image_encoder.blocks.N.
// Space_Adapter.*, .MLP_Adapter.*; sam::BlockImpl::add_adapters).
//   trains    the adapters, and the prompt encoder / mask decoder as model.trainable says; the
//             ViT's own weights stay frozen (model.trainable.image_encoder must be false)
//   cache     none: the adapters change the encoder's output while training
//   init_from official SAM / MedSAM weights (adapters fresh), or a Med-SA checkpoint (adapters
//             too; its 3-D-only Depth_Adapter is left out)
//   exports   adapter: the SAM state dict with the adapters, official and Med-SA names
// Loss and sampling as the deterministic SAM (prob_sam with latent_net none).
#pragma once

#include "psam/models/prob_sam/prob_sam_model.h"

namespace psam::models {

class AdapterSamModel : public ProbSamModel {
 public:
  // psam::Error unless latent_net is none and trainable.image_encoder is false.
  explicit AdapterSamModel(const ModelConfig& config);

  std::optional<CacheableEncoder> cacheable_encoder() override { return std::nullopt; }
  std::vector<ExportPart> export_parts() const override;
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

 protected:
  // The encoder with its adapters, always computed (with autograd unless the caller disabled it).
  at::Tensor embeddings(const data::Batch& batch) override;
};

}  // namespace psam::models
