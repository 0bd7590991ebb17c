// model.kind mc_dropout_sam: SAM with dropout in the mask decoder, kept on at sampling time
// (MC dropout, Gal & Ghahramani 2016). No public code exists; psam's protocol:
//   dropout   rate model.mc_dropout_sam.rate on the output of every attention and MLP of the
//             two-way transformer and on the hidden activations of the output hypernetwork MLPs
//             (sam::Dropout), in training and for the samples; its masks come from the run's or
//             the case's generator
//   loss      as the deterministic SAM (BCE + Dice) on a dropout forward
//   sample    the decoder on n copies of the prompt in ONE batched call sharing the image
//             embedding, each copy with its own dropout masks; mean_logits: the decoder without
//             dropout (the deterministic output)
//   frame, cache, exports   as prob_sam with latent_net none (the frozen encoder's embeddings may
//             be cached: dropout acts after the encoder)
#pragma once

#include "psam/models/prob_sam/prob_sam_model.h"

namespace psam::models {

class McDropoutSamModel : public ProbSamModel {
 public:
  // psam::Error unless config.latent_net is none (MC-dropout SAM has no latent nets).
  explicit McDropoutSamModel(const ModelConfig& config);

  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return config().mc_dropout_sam.rate == 0; }
};

}  // namespace psam::models
