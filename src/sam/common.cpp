#include "psam/sam/common.h"

namespace psam::sam {

LayerNorm2dImpl::LayerNorm2dImpl(int64_t num_channels, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({num_channels}));
  bias = register_parameter("bias", torch::zeros({num_channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  // Written out as the official module does (biased variance over C), not via layer_norm on a
  // permuted copy, so the rounding matches.
  const auto u = x.mean(1, /*keepdim=*/true);
  const auto centered = x - u;
  const auto s = centered.pow(2).mean(1, /*keepdim=*/true);
  const auto normed = centered / torch::sqrt(s + eps_);
  return weight.view({-1, 1, 1}) * normed + bias.view({-1, 1, 1});
}

torch::nn::AnyModule make_activation(Activation act) {
  if (act == Activation::kGELU) return torch::nn::AnyModule(torch::nn::GELU());
  return torch::nn::AnyModule(torch::nn::ReLU());
}

MLPBlockImpl::MLPBlockImpl(int64_t embedding_dim, int64_t mlp_dim, Activation act)
    : act_(make_activation(act)) {
  lin1 = register_module("lin1", torch::nn::Linear(embedding_dim, mlp_dim));
  lin2 = register_module("lin2", torch::nn::Linear(mlp_dim, embedding_dim));
  register_module("act", act_.ptr());
}

torch::Tensor MLPBlockImpl::forward(const torch::Tensor& x) { return lin2(act_.forward(lin1(x))); }

}  // namespace psam::sam
