// The bottleneck adapter of Medical SAM Adapter (Med-SA, models/common.py `Adapter`):
// D_fc2(GELU(D_fc1(x))) with D_fc1: C -> C * mlp_ratio, plus x itself when skip_connect.
// Adapter SAM (models/adapter_sam) puts one after each ViT block's attention (with the skip)
// and one parallel to its MLP (without); see ImageEncoderViT::add_adapters.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace psam::sam {

class AdapterImpl : public torch::nn::Module {
 public:
  AdapterImpl(int64_t features, double mlp_ratio, bool skip_connect);
  // [..., C] -> [..., C]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear D_fc1{nullptr}, D_fc2{nullptr};

 private:
  bool skip_connect_;
};
TORCH_MODULE(Adapter);

// Where and how wide the adapters of every ViT block are.
struct AdapterOptions {
  double mlp_ratio = 0.25;  // bottleneck width / block width (Med-SA: 0.25)
  double scale = 0.5;       // weight of the adapter parallel to the MLP (Med-SA: 0.5)
};

}  // namespace psam::sam
