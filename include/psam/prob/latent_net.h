// Latent nets of Probabilistic SAM: the prior p(z|x) and the posterior q(z|x,y), each mapping its
// input to a DiagonalGaussian over z. Three kinds, chosen by config:
//   reference     the reference Probabilistic SAM net (two 3x3 convs, global average pool, two
//                 linear heads) on the pixels, at SAM's input size or a configured smaller size;
//   axis_aligned  the Probabilistic U-Net's axis-aligned conv Gaussian encoder on the pixels;
//   embedding     a small conv net on the frozen SAM image embedding (plus the mask on the
//                 embedding grid for the posterior), which costs almost nothing and works with
//                 cached embeddings.
// A posterior net reads the target mask as one extra input channel, resized to its input.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "psam/prob/gaussian.h"
#include "psam/util/names.h"

namespace psam::prob {

// kNone: no latent nets (the deterministic SAM of ProbSamConfig); never a net's own kind.
enum class LatentNetKind { kReference, kAxisAligned, kEmbedding, kNone };
inline constexpr NameTable<LatentNetKind, 4> kLatentNetNames = {{
    {LatentNetKind::kReference, "reference"},
    {LatentNetKind::kAxisAligned, "axis_aligned"},
    {LatentNetKind::kEmbedding, "embedding"},
    {LatentNetKind::kNone, "none"},
}};
constexpr const auto& enum_names(LatentNetKind) { return kLatentNetNames; }
// reference | axis_aligned | embedding | none; psam::Error for any other name.
LatentNetKind latent_net_kind_from_string(const std::string& name);
std::string to_string(LatentNetKind kind);

struct LatentNetOptions {
  LatentNetKind kind = LatentNetKind::kReference;
  int64_t latent_dim = 6;
  // Pixel nets: image channels. Embedding net: channels of the image embedding (prompt width).
  int64_t in_channels = 3;
  // A posterior net reads the target mask as one more input channel.
  bool posterior = false;
  // Pixel nets: the image and mask are resized to input_size x input_size first (area
  // averaging when shrinking, bilinear when enlarging); 0 keeps the size they come in (the
  // reference feeds SAM's full input, e.g. 1024).
  int64_t input_size = 0;
  // axis_aligned: output channels of each block, and conv+ReLU layers per block.
  std::vector<int64_t> num_filters = {32, 64, 128, 192};
  int64_t convs_per_block = 3;
  // embedding: width of its two convolutions.
  int64_t hidden_channels = 64;
  // sigma = exp(clamp(log sigma, -bound, bound)) (the reference Probabilistic SAM's [-5, 5]);
  // 0 = exp(log sigma) unclamped, as the Probabilistic U-Net.
  double log_sigma_bound = 5.0;

  // psam::Error naming the first invalid field.
  void validate() const;
};

// What the latent nets read; each kind uses one of the two.
struct LatentInputs {
  // [B,C,H,W] pixels, normalised as SAM's encoder input (Sam::preprocess); any size.
  torch::Tensor image;
  // [B,C,h,w] SAM image embedding (ImageEncoderViT output or the embedding cache).
  torch::Tensor image_embedding;
};

class LatentNetImpl : public torch::nn::Module {
 public:
  explicit LatentNetImpl(LatentNetOptions options);

  // mask [B,1,H,W] with values in [0,1]: the target for a posterior net; a prior net takes none.
  DiagonalGaussian forward(const LatentInputs& x, const torch::Tensor& mask = {});

  const LatentNetOptions& options() const { return options_; }
  bool reads_embedding() const { return options_.kind == LatentNetKind::kEmbedding; }
  // Channels of the network input: the image or embedding, plus the mask for a posterior.
  int64_t input_channels() const { return options_.in_channels + (options_.posterior ? 1 : 0); }
  // Activation checkpointing of the net while training with autograd.
  void set_activation_checkpointing(bool on) { checkpointing_ = on; }

 protected:
  // The prepared input [B, input_channels(), s, s] -> (mu, log_sigma), each [B, latent_dim].
  virtual std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& input) = 0;

 private:
  LatentNetOptions options_;
  bool checkpointing_ = false;
};

// A latent net of options.kind (validated first).
std::shared_ptr<LatentNetImpl> make_latent_net(const LatentNetOptions& options);

}  // namespace psam::prob
