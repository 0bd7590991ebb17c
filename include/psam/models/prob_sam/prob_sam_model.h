// model.kind prob_sam: Probabilistic SAM (psam/prob/prob_sam.h), and with latent_net none the
// deterministic SAM baseline, as a registry method.
//   frame     SAM's img_size x img_size; the loss compares logits with the target in the frame
//   cache     the image encoder's embeddings, while it is frozen
//   sample    n codes from the prior decoded in one decoder call sharing the embedding, plus the
//             decoding at the prior mean; logits back to the image by geometry::frame_to_image
//   exports   sam (official segment_anything layout), full (the reference Probabilistic SAM
//             tree, with fcomb.decoder.*; not for latent_net none)
//   loss      train::prob_sam_loss, plus l2_weight * the L2 norms of prior_net, posterior_net and
//             fcomb.z_projector when l2_weight > 0
// MC-dropout SAM and adapter SAM derive from it (the same module tree under sam.*).
#pragma once

#include "psam/models/model.h"
#include "psam/prob/prob_sam.h"

namespace psam::models {

class ProbSamModel : public Model {
 public:
  explicit ProbSamModel(const ModelConfig& config);

  torch::nn::Module& module() override { return *net_; }
  prob::ProbSam& net() { return net_; }

  void prepare_loader(data::LoaderOptions& options, bool training) const override;
  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return config().prob.deterministic(); }
  std::optional<CacheableEncoder> cacheable_encoder() override;
  std::vector<ExportPart> export_parts() const override;
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

 protected:
  // The batch's image embeddings [B,C,h,w] on the model's device: cached (float16-rounded) or
  // computed by the encoder.
  virtual at::Tensor embeddings(const data::Batch& batch);
  // psam::Error unless the batch is in the model's frame (masks too when `masks_in_frame`).
  void check_frame(const data::Batch& batch, bool masks_in_frame) const;

 private:
  prob::ProbSam net_;
};

}  // namespace psam::models
