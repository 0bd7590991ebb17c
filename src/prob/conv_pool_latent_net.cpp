#include "psam/prob/conv_pool_latent_net.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>

#include "psam/util/error.h"

namespace psam::prob {
namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2));
}

}  // namespace

ConvPoolLatentNetImpl::ConvPoolLatentNetImpl(const LatentNetOptions& options)
    : LatentNetImpl(options) {
  PSAM_CHECK(options.kind != LatentNetKind::kAxisAligned,
             "ConvPoolLatentNet: builds the reference and embedding kinds only");
  const bool reference = options.kind == LatentNetKind::kReference;
  const int64_t c1 = reference ? 32 : options.hidden_channels;
  const int64_t c2 = reference ? 64 : options.hidden_channels;
  // In-place ReLUs: the convolutions' outputs are not kept beside their rectified copies (the
  // reference net runs at the 1024 px frame, where each is 134-268 MB per image).
  const auto relu = [] { return torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)); };
  encoder = register_module(
      "encoder", torch::nn::Sequential(conv(input_channels(), c1, reference ? 3 : 1), relu(),
                                       conv(c1, c2, 3), relu()));
  fc_mu = register_module("fc_mu", torch::nn::Linear(c2, options.latent_dim));
  fc_log_sigma = register_module("fc_log_sigma", torch::nn::Linear(c2, options.latent_dim));
}

std::pair<torch::Tensor, torch::Tensor> ConvPoolLatentNetImpl::encode(const torch::Tensor& input) {
  const auto pooled = encoder->forward(input).mean({2, 3});
  return {fc_mu->forward(pooled), fc_log_sigma->forward(pooled)};
}

}  // namespace psam::prob
