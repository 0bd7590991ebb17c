// model.kind prob_unet: the Probabilistic U-Net (Kohl et al. 2018; module names and parity of
// the PyTorch port stefanknegt/Probabilistic-Unet-Pytorch) as a registry method.
//   frame     the store image at its own size in [0, 1] (the loader's raw_image; no SAM frame,
//             no prompt: the box is ignored), masks at store size
//   loss      z from the posterior q(z | image, mask) (its mean with use_posterior_mean),
//             train::prob_sam_loss on fcomb(U-Net features, z) (BCE reduced as loss.bce_reduction,
//             Dice if loss.dice_weight > 0, beta * KL(q || p)), plus loss.l2_weight * the L2
//             norms of prior, posterior and fcomb.layers (the reference's l2_regularisation)
//   sample    one U-Net pass and one prior pass, then n codes from the prior and the prior mean
//             through Fcomb in one batched call
//   exports   reference: the port's state dict (psam's names are the port's)
#pragma once

#include "psam/models/model.h"
#include "psam/models/prob_unet/prob_unet.h"

namespace psam::models {

class ProbUnetModel : public Model {
 public:
  explicit ProbUnetModel(const ModelConfig& config);

  torch::nn::Module& module() override { return *net_; }
  ProbUnet& net() { return net_; }

  void prepare_loader(data::LoaderOptions& options, bool training) const override;
  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return false; }
  std::vector<ExportPart> export_parts() const override;
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

  // The network input of a batch: raw_image [B,3,H,W] -> [B,input_channels,H,W] on the model's
  // device (grey: the mean of the three channels).
  at::Tensor input(const data::Batch& batch);

 private:
  ProbUnet net_;
};

}  // namespace psam::models
