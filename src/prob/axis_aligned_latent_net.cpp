#include "psam/prob/axis_aligned_latent_net.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/pooling.h>

#include <memory>

namespace psam::prob {

AxisAlignedLatentNetImpl::AxisAlignedLatentNetImpl(const LatentNetOptions& options)
    : LatentNetImpl(options) {
  layers = torch::nn::Sequential();
  int64_t in = input_channels();
  for (size_t block = 0; block < options.num_filters.size(); ++block) {
    if (block > 0)
      layers->push_back(torch::nn::AvgPool2d(
          torch::nn::AvgPool2dOptions(2).stride(2).padding(0).ceil_mode(true)));
    const int64_t out = options.num_filters[block];
    for (int64_t i = 0; i < options.convs_per_block; ++i) {
      layers->push_back(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(i == 0 ? in : out, out, 3).padding(1)));
      layers->push_back(torch::nn::ReLU());
    }
    in = out;
  }
  // The Probabilistic U-Net keeps the conv stack in an Encoder module as `layers`.
  auto encoder = std::make_shared<torch::nn::Module>("Encoder");
  encoder->register_module("layers", layers);
  register_module("encoder", encoder);
  conv_layer = register_module(
      "conv_layer", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, 2 * options.latent_dim, 1)));
}

std::pair<torch::Tensor, torch::Tensor> AxisAlignedLatentNetImpl::encode(
    const torch::Tensor& input) {
  const auto pooled = layers->forward(input).mean({2, 3}, /*keepdim=*/true);
  const auto mu_log_sigma = conv_layer->forward(pooled).flatten(1);
  const int64_t l = options().latent_dim;
  return {mu_log_sigma.slice(1, 0, l), mu_log_sigma.slice(1, l, 2 * l)};
}

}  // namespace psam::prob
