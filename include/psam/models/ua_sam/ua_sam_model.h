// model.kind ua_sam: UA-SAM (Jiang et al., "Uncertainty-Aware Adapter: Adapting SAM for Ambiguous
// Medical Image Segmentation"), with the reference's defects fixed (docs/uasam.md). A latent z
// modulates an UncertaintyAdapter after every ViT block (uncertainty_adapter.h); z comes from
// axis-aligned conv Gaussian prior (image) / posterior (image + mask) nets.
//   names     sam.image_encoder.{adapters.N, condition, res_MLP}.*, sam.{prompt_encoder,
//             mask_decoder}.*, Probabilistic_model.{prior,posterior}.*: the reference's names
//             under "sam." (the reference's tree, exported as part ua_sam)
//   trains    adapters, condition, res_MLP (unless ua_sam.train_res_mlp is false), the latent
//             nets, and the prompt encoder / mask decoder as model.trainable says; the ViT's own
//             weights stay frozen (model.trainable.image_encoder must be false)
//   loss      train::prob_sam_loss (BCE + Dice + beta KL(posterior || prior)) on a posterior
//             draw, plus l2_weight * the L2 norms of the prior and posterior
//   sample    the prompt is fixed for the case; n codes from the prior and the prior mean run
//             through the encoder as one batch of n + 1
//   cache     none: z changes the encoder's output
//   init_from official SAM / MedSAM weights (UA-SAM parts fresh) or a UA-SAM checkpoint
#pragma once

#include <memory>
#include <vector>

#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/ua_sam/uncertainty_adapter.h"
#include "psam/prob/gaussian.h"
#include "psam/prob/latent_net.h"

namespace psam::models {

class UaSamModel : public ProbSamModel {
 public:
  // psam::Error unless latent_net is none and trainable.image_encoder is false.
  explicit UaSamModel(const ModelConfig& config);

  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return false; }
  std::optional<CacheableEncoder> cacheable_encoder() override { return std::nullopt; }
  std::vector<ExportPart> export_parts() const override;
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

  // The sparse and dense prompt embeddings of the configured prompt for boxes [B,4] (frame).
  sam::PromptEmbeddings prompts(const at::Tensor& boxes);
  // The image encoder with UA-SAM's adapters: image [B,3,S,S], sparse prompts [B,T,C] of one
  // prompt per image, z [B,L] -> image embedding [B,C,h,w]. Each row depends on its own inputs
  // only.
  at::Tensor encode(const at::Tensor& image, const at::Tensor& sparse, const at::Tensor& z);
  // Low-resolution mask logits [B,1,4h,4w] for images, boxes and codes of B cases.
  at::Tensor decode_logits(const at::Tensor& image, const at::Tensor& boxes, const at::Tensor& z);
  prob::DiagonalGaussian prior(const at::Tensor& image);
  prob::DiagonalGaussian posterior(const at::Tensor& image, const at::Tensor& target);

  torch::nn::ModuleList adapters{nullptr};  // of UncertaintyAdapter
  ConditionTransform condition{nullptr};
  torch::nn::Sequential res_MLP{nullptr};
  std::shared_ptr<prob::LatentNetImpl> prior_net, posterior_net;  // Probabilistic_model.*

 private:
  std::vector<UncertaintyAdapter> adapter_list_;
  std::shared_ptr<torch::nn::Module> probabilistic_model_;  // holds prior_net, posterior_net
};

}  // namespace psam::models
