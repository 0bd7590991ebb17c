// The Probabilistic U-Net's axis-aligned conv Gaussian: blocks of convs_per_block 3x3
// conv+ReLU layers with num_filters channels, 2x2 average pooling (ceil mode) between blocks,
// the spatial mean, and a 1x1 conv to 2L channels split into mu and log sigma. Module names
// follow that implementation (encoder.layers.N, conv_layer).
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include "psam/prob/latent_net.h"

namespace psam::prob {

class AxisAlignedLatentNetImpl : public LatentNetImpl {
 public:
  explicit AxisAlignedLatentNetImpl(const LatentNetOptions& options);

  torch::nn::Sequential layers{nullptr};  // registered as encoder.layers
  torch::nn::Conv2d conv_layer{nullptr};

 protected:
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& input) override;
};

}  // namespace psam::prob
