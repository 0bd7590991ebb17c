// model.kind prob_sam: Probabilistic SAM (psam/prob/prob_sam.h), and with latent_net none the
// deterministic SAM baseline, as a registry method.
//   frame     SAM's img_size x img_size; the loss compares logits with the target in the frame
//   cache     the image encoder's embeddings, while it is frozen
//   sample    n codes from the prior decoded in one decoder call sharing the embedding, plus the
//             decoding at the prior mean; logits back to the image by sam::frame_to_image
//   exports   sam (official segment_anything layout), full (the reference Probabilistic SAM
//             tree, with fcomb.decoder.*; not for latent_net none)
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

 private:
  // The batch's image embeddings [B,C,h,w] on the model's device: cached (float16-rounded) or
  // computed by the encoder.
  at::Tensor embeddings(const data::Batch& batch);

  prob::ProbSam net_;
};

}  // namespace psam::models
