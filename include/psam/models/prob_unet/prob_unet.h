// The Probabilistic U-Net (Kohl et al. 2018) as the PyTorch port stefanknegt/Probabilistic-Unet-
// Pytorch builds it, under its module names, so its state dicts load without renaming:
//   unet.contracting_path.N.layers.M           level N: [AvgPool2d(2, ceil) if N > 0], then
//                                               convs_per_block x (Conv3x3 + ReLU)
//   unet.upsampling_path.N.conv_block.layers.M deepest first: bilinear x2 (align_corners), cat
//                                               with the skip, convs_per_block x (Conv3x3 + ReLU)
//   prior.*, posterior.*                        prob::AxisAlignedLatentNetImpl (encoder.layers.N,
//                                               conv_layer) on the image / image + mask;
//                                               sigma = exp(log sigma), unclamped as the reference
//   fcomb.layers.N, fcomb.last_layer            z tiled over H x W after the U-Net features,
//                                               1x1 conv+ReLU layers, a last 1x1 conv to 1 logit
// The U-Net has no last layer: its output is the num_filters[0]-channel feature map.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/util/Optional.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <vector>

#include "psam/models/prob_unet/prob_unet_config.h"
#include "psam/prob/gaussian.h"
#include "psam/prob/latent_net.h"

namespace psam::models {

// [AvgPool2d(2, stride 2, ceil_mode)] then n x (Conv3x3 pad 1 + ReLU), in one Sequential `layers`.
class DownConvBlockImpl : public torch::nn::Module {
 public:
  DownConvBlockImpl(int64_t input_dim, int64_t output_dim, int64_t convs, bool pool);
  torch::Tensor forward(const torch::Tensor& x) { return layers->forward(x); }

  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(DownConvBlock);

// Bilinear upsampling (align_corners = true) of x to the skip's size, cat([up, skip], 1), then a
// DownConvBlock without pooling (`conv_block`). The reference upsamples by 2 and asserts the
// sizes match; taking the skip's size is the same there and also serves odd sizes.
class UpConvBlockImpl : public torch::nn::Module {
 public:
  UpConvBlockImpl(int64_t input_dim, int64_t output_dim, int64_t convs);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bridge);

  DownConvBlock conv_block{nullptr};
};
TORCH_MODULE(UpConvBlock);

class UnetImpl : public torch::nn::Module {
 public:
  UnetImpl(int64_t input_channels, const std::vector<int64_t>& num_filters, int64_t convs);
  // [B,C,H,W] -> features [B,num_filters[0],H,W].
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::ModuleList contracting_path{nullptr}, upsampling_path{nullptr};

 private:
  std::vector<DownConvBlock> down_;
  std::vector<UpConvBlock> up_;
};
TORCH_MODULE(Unet);

class FcombImpl : public torch::nn::Module {
 public:
  FcombImpl(int64_t channels, int64_t latent_dim, int64_t no_convs_fcomb);
  // features [1 or N, C, H, W] (one map is shared by every code), z [N, L] -> logits [N,1,H,W].
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& z);

  torch::nn::Sequential layers{nullptr};
  torch::nn::Conv2d last_layer{nullptr};
};
TORCH_MODULE(Fcomb);

struct ProbUnetOutput {
  torch::Tensor features;  // [B,num_filters[0],H,W] U-Net features
  prob::DiagonalGaussian prior, posterior;
  torch::Tensor z;       // [B,L] the posterior code decoded (a draw, or the posterior mean)
  torch::Tensor logits;  // [B,1,H,W] fcomb(features, z)
};

class ProbUnetImpl : public torch::nn::Module {
 public:
  // Fresh weights, initialised as the reference: He-normal (fan_in, ReLU) conv weights and
  // truncated-normal (std 0.001) biases, orthogonal Fcomb weights, the latent nets' last conv
  // He-normal with N(0, 1) biases.
  explicit ProbUnetImpl(const ProbUnetConfig& config);

  // The training forward of image [B,C,H,W] and target mask [B,1,H,W]: the U-Net features, the
  // prior and posterior, and the reconstruction from a posterior draw (reparameterised, from
  // `generator`) or, with use_posterior_mean, from the posterior mean (the reference's
  // reconstruct(use_posterior_mean=True), which fails in Knegt's port).
  ProbUnetOutput forward(const torch::Tensor& image, const torch::Tensor& mask,
                         bool use_posterior_mean,
                         c10::optional<at::Generator> generator = c10::nullopt);

  // The parameters of the reference's L2 term: prior, posterior and fcomb.layers (not
  // fcomb.last_layer, not the U-Net).
  std::vector<torch::Tensor> regularised_parameters() const;

  const ProbUnetConfig& config() const { return config_; }

  Unet unet{nullptr};
  std::shared_ptr<prob::LatentNetImpl> prior, posterior;
  Fcomb fcomb{nullptr};

 private:
  ProbUnetConfig config_;
};
TORCH_MODULE(ProbUnet);

}  // namespace psam::models
