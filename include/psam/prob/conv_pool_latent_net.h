// The `reference` and `embedding` latent nets: two conv+ReLU layers, a global average pool and
// two linear heads. Module names are the reference's (encoder.0, encoder.2, fc_mu,
// fc_log_sigma), so reference checkpoints load without renaming.
//   reference: Conv3x3(in, 32), Conv3x3(32, 64) on the pixels;
//   embedding: Conv1x1(in, hidden) then Conv3x3(hidden, hidden) on the image embedding — the
//              1x1 first mixes the wide embedding channels cheaply on the 64x64 grid.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include "psam/prob/latent_net.h"

namespace psam::prob {

class ConvPoolLatentNetImpl : public LatentNetImpl {
 public:
  // options.kind must be kReference or kEmbedding.
  explicit ConvPoolLatentNetImpl(const LatentNetOptions& options);

  torch::nn::Sequential encoder{nullptr};
  torch::nn::Linear fc_mu{nullptr};
  torch::nn::Linear fc_log_sigma{nullptr};

 protected:
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& input) override;
};

}  // namespace psam::prob
