// Building blocks shared by the SAM modules (official modeling/common.py).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace psam::sam {

enum class Activation { kGELU, kReLU };

// Channel-wise LayerNorm of an NCHW tensor (mean and variance over C at each pixel).
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  explicit LayerNorm2dImpl(int64_t num_channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

// lin2(act(lin1(x))).
class MLPBlockImpl : public torch::nn::Module {
 public:
  MLPBlockImpl(int64_t embedding_dim, int64_t mlp_dim, Activation act);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear lin1{nullptr}, lin2{nullptr};

 private:
  torch::nn::AnyModule act_;
};
TORCH_MODULE(MLPBlock);

// A parameter-free activation module, to register where the official code has one.
torch::nn::AnyModule make_activation(Activation act);

}  // namespace psam::sam
