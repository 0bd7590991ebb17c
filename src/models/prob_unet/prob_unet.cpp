#include "psam/models/prob_unet/prob_unet.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/pooling.h>
#include <torch/torch.h>

#include "psam/prob/axis_aligned_latent_net.h"
#include "psam/util/error.h"

namespace psam::models {
namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2));
}

// The reference's truncated_normal_: N(0, std^2) redrawn outside two standard deviations.
void truncated_normal(torch::Tensor t, double std) {
  torch::NoGradGuard no_grad;
  t.normal_(0, std);
  for (auto outside = t.abs() >= 2 * std; outside.any().item<bool>(); outside = t.abs() >= 2 * std)
    t.masked_scatter_(outside, torch::randn({outside.sum().item<int64_t>()}, t.options()) * std);
}

// He-normal (fan_in, ReLU) or orthogonal weights and truncated-normal biases for every conv.
void init_convs(torch::nn::Module& m, bool orthogonal) {
  for (auto& child : m.modules(/*include_self=*/true)) {
    auto* c = child->as<torch::nn::Conv2d>();
    if (c == nullptr) continue;
    if (orthogonal)
      torch::nn::init::orthogonal_(c->weight);
    else
      torch::nn::init::kaiming_normal_(c->weight, 0, torch::kFanIn, torch::kReLU);
    truncated_normal(c->bias, 0.001);
  }
}

}  // namespace

DownConvBlockImpl::DownConvBlockImpl(int64_t input_dim, int64_t output_dim, int64_t convs,
                                     bool pool) {
  layers = torch::nn::Sequential();
  if (pool)
    layers->push_back(
        torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2).padding(0).ceil_mode(true)));
  for (int64_t i = 0; i < convs; ++i) {
    layers->push_back(conv(i == 0 ? input_dim : output_dim, output_dim, 3));
    layers->push_back(torch::nn::ReLU());
  }
  register_module("layers", layers);
}

UpConvBlockImpl::UpConvBlockImpl(int64_t input_dim, int64_t output_dim, int64_t convs) {
  conv_block = register_module("conv_block", DownConvBlock(input_dim, output_dim, convs, false));
}

torch::Tensor UpConvBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& bridge) {
  namespace F = torch::nn::functional;
  const auto up = F::interpolate(x, F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{bridge.size(2), bridge.size(3)})
                                        .mode(torch::kBilinear)
                                        .align_corners(true));
  return conv_block(torch::cat({up, bridge}, 1));
}

UnetImpl::UnetImpl(int64_t input_channels, const std::vector<int64_t>& num_filters, int64_t convs) {
  contracting_path = register_module("contracting_path", torch::nn::ModuleList());
  upsampling_path = register_module("upsampling_path", torch::nn::ModuleList());
  int64_t in = input_channels;
  for (size_t i = 0; i < num_filters.size(); ++i) {
    down_.emplace_back(in, num_filters[i], convs, /*pool=*/i > 0);
    contracting_path->push_back(down_.back());
    in = num_filters[i];
  }
  for (size_t i = num_filters.size() - 1; i-- > 0;) {
    up_.emplace_back(in + num_filters[i], num_filters[i], convs);
    upsampling_path->push_back(up_.back());
    in = num_filters[i];
  }
}

torch::Tensor UnetImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> skips;
  auto h = x;
  for (size_t i = 0; i < down_.size(); ++i) {
    h = down_[i](h);
    if (i + 1 < down_.size()) skips.push_back(h);
  }
  for (size_t i = 0; i < up_.size(); ++i) h = up_[i](h, skips[skips.size() - 1 - i]);
  return h;
}

FcombImpl::FcombImpl(int64_t channels, int64_t latent_dim, int64_t no_convs_fcomb) {
  layers = torch::nn::Sequential();
  for (int64_t i = 0; i + 1 < no_convs_fcomb; ++i) {
    layers->push_back(conv(i == 0 ? channels + latent_dim : channels, channels, 1));
    layers->push_back(torch::nn::ReLU());
  }
  register_module("layers", layers);
  last_layer = register_module("last_layer", conv(channels, 1, 1));
}

torch::Tensor FcombImpl::forward(const torch::Tensor& features, const torch::Tensor& z) {
  PSAM_CHECK(features.dim() == 4 && z.dim() == 2 &&
                 (features.size(0) == 1 || features.size(0) == z.size(0)),
             fmt::format("prob_unet fcomb: expected features [1 or N,C,H,W] and z [N,L], got {} "
                         "and {}",
                         fmt::streamed(features.sizes()), fmt::streamed(z.sizes())));
  const int64_t n = z.size(0), h = features.size(2), w = features.size(3);
  const auto tiled = z.view({n, z.size(1), 1, 1}).expand({n, z.size(1), h, w});
  const auto input = torch::cat({features.expand({n, -1, h, w}), tiled}, 1);
  return last_layer(layers->forward(input));
}

ProbUnetImpl::ProbUnetImpl(const ProbUnetConfig& config) : config_(config) {
  config_.validate();
  const auto& c = config_;
  unet = register_module("unet", Unet(c.input_channels, c.num_filters, c.convs_per_block));
  prob::LatentNetOptions o;
  o.kind = prob::LatentNetKind::kAxisAligned;
  o.latent_dim = c.latent_dim;
  o.in_channels = c.input_channels;
  o.num_filters = c.num_filters;
  o.convs_per_block = c.convs_per_block;
  o.log_sigma_bound = c.log_sigma_bound;
  prior = register_module("prior", prob::make_latent_net(o));
  o.posterior = true;
  posterior = register_module("posterior", prob::make_latent_net(o));
  fcomb = register_module("fcomb", Fcomb(c.num_filters[0], c.latent_dim, c.no_convs_fcomb));

  init_convs(*unet, false);
  init_convs(*prior, false);
  init_convs(*posterior, false);
  init_convs(*fcomb, true);
  torch::NoGradGuard no_grad;
  for (const auto& net : {prior, posterior}) {
    const auto& last = std::dynamic_pointer_cast<prob::AxisAlignedLatentNetImpl>(net)->conv_layer;
    torch::nn::init::kaiming_normal_(last->weight, 0, torch::kFanIn, torch::kReLU);
    last->bias.normal_();
  }
}

ProbUnetOutput ProbUnetImpl::forward(const torch::Tensor& image, const torch::Tensor& mask,
                                     bool use_posterior_mean,
                                     c10::optional<at::Generator> generator) {
  ProbUnetOutput out;
  out.features = unet(image);
  out.posterior = posterior->forward(prob::LatentInputs{image, {}}, mask);
  out.prior = prior->forward(prob::LatentInputs{image, {}});
  out.z = use_posterior_mean ? out.posterior.mu() : out.posterior.rsample(std::move(generator));
  out.logits = fcomb(out.features, out.z);
  return out;
}

std::vector<torch::Tensor> ProbUnetImpl::regularised_parameters() const {
  std::vector<torch::Tensor> out = prior->parameters();
  for (const auto& p : posterior->parameters()) out.push_back(p);
  for (const auto& p : fcomb->layers->parameters()) out.push_back(p);
  return out;
}

}  // namespace psam::models
