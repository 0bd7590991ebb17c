// Probabilistic SAM: SAM plus a conditional VAE over a latent code z. A prior net p(z|x) and a
// posterior net q(z|x,y) give diagonal Gaussians over z; z goes through the z projector MLP and
// is ADDED to every sparse prompt token before the mask decoder, so one image and one box give
// many plausible masks. Training draws z from the posterior, inference from the prior.
//
// The same class is also the deterministic SAM baseline (latent_net none): no latent nets,
// no projector, no KL, so both run through the same training and evaluation code.
//
// Module tree and state-dict names (the reference's, so checkpoints move without renaming):
//   sam.image_encoder.*, sam.prompt_encoder.*, sam.mask_decoder.*,
//   prior_net.*, posterior_net.*        (absent for "none")
//   fcomb.z_projector.{0,2}.*           Linear(L,H), ReLU, Linear(H,C); absent for "none"
// with C the prompt width and H = C unless projector_hidden says otherwise.
//
// Frames: boxes are (x0, y0, x1, y1) pixels of SAM's S x S input (S = sam.img_size); the image
// given to the latent nets is SAM's normalised input (Sam::preprocess); mask logits come back
// bilinearly resized (align_corners = false, as the reference) to the size the caller asks for.
// The decoder is always run with a single mask output (the reference's multimask_output=False).
#pragma once

#include <ATen/core/Generator.h>
#include <c10/util/Optional.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "psam/prob/gaussian.h"
#include "psam/prob/latent_net.h"
#include "psam/sam/config.h"
#include "psam/sam/dropout.h"
#include "psam/sam/mask_decoder.h"
#include "psam/sam/sam.h"

namespace psam::prob {

// Which parts of the model the optimiser updates; the others get requires_grad = false.
struct TrainableParts {
  bool image_encoder = false;  // frozen: its embeddings can then be cached
  bool prompt_encoder = true;
  bool mask_decoder = true;
  bool latent_nets = true;  // prior_net and posterior_net
  bool z_projector = true;  // fcomb.z_projector
};

struct ProbSamConfig {
  sam::SamConfig sam;
  // Dimension L of z (the reference: 6).
  int64_t latent_dim = 6;
  // The prior/posterior nets; kNone gives the deterministic SAM.
  LatentNetKind latent_net = LatentNetKind::kReference;
  // Pixel latent nets (reference, axis_aligned): the image and mask are resized to this size
  // first; 0 = as given (the reference runs them at SAM's full input, e.g. 1024).
  int64_t latent_input_size = 0;
  // Hidden width H of the z projector; 0 = the prompt width (sam.prompt_embed_dim).
  int64_t projector_hidden = 0;
  // axis_aligned: filters of each block and conv+ReLU layers per block.
  std::vector<int64_t> axis_aligned_filters = {32, 64, 128, 192};
  int64_t axis_aligned_convs_per_block = 3;
  // embedding: width of its two convolutions.
  int64_t embedding_hidden_channels = 64;
  TrainableParts trainable;

  bool deterministic() const { return latent_net == LatentNetKind::kNone; }
  // The options of the prior (posterior = false) or posterior latent net. Not for "none".
  LatentNetOptions latent_options(bool posterior) const;
  // psam::Error naming the first invalid field.
  void validate() const;
};

// The reference's "fcomb": the module that combines z with the prompt.
class FcombImpl : public torch::nn::Module {
 public:
  FcombImpl(int64_t latent_dim, int64_t hidden, int64_t prompt_dim);
  // z [B,L] -> [B,1,C], ready to be added to every sparse token of a [B,T,C] prompt.
  torch::Tensor forward(const torch::Tensor& z);

  torch::nn::Sequential z_projector{nullptr};
};
TORCH_MODULE(Fcomb);

// One training (or validation) batch. Prompt boxes come from the data layer
// (psam/data/loader/boxes.h: boxes_from_masks, jitter_box, PromptSource).
struct ProbSamInputs {
  torch::Tensor image_embedding;  // [B,C,h,w]: embed(image) or the embedding cache
  // [B,3,S,S] SAM-normalised input. Needed by the pixel latent nets (reference, axis_aligned);
  // may be undefined for embedding and none.
  torch::Tensor image;
  torch::Tensor boxes;   // [B,4] float, x0,y0,x1,y1 in the S x S frame
  torch::Tensor target;  // [B,1,H,W] float in [0,1]: the mask the posterior sees and the loss uses
};

struct ProbSamOutput {
  torch::Tensor logits;          // [B,1,H,W] mask logits at the target's size
  torch::Tensor low_res_logits;  // [B,1,4h,4w] as the decoder gives them
  // Undefined (defined() false) for the deterministic kind.
  DiagonalGaussian prior, posterior;
  torch::Tensor z;  // [B,L] the posterior draw that was decoded; undefined for none
};

struct SampleOutput {
  torch::Tensor samples;     // [n,1,H,W] mask logits, one per latent code
  torch::Tensor prior_mean;  // [1,1,H,W] mask logits at z = prior mean
  torch::Tensor z;           // [n,L] the codes drawn from the prior; undefined for none
};

class ProbSamImpl : public torch::nn::Module {
 public:
  // Fresh weights (load a checkpoint after); applies config.trainable.
  explicit ProbSamImpl(ProbSamConfig config);

  // SAM-normalised [B,3,S,S] -> image embedding [B,C,h,w]. Runs without autograd unless the
  // encoder is trainable, so a frozen encoder keeps no activations.
  torch::Tensor embed(const torch::Tensor& image);

  // Training forward: z is drawn (reparameterised) from the posterior q(z | image, target) and
  // decoded with the box prompt; the prior p(z | image) is returned for the KL term
  // (train::prob_sam_loss). Deterministic kind: the plain SAM decoder output, no Gaussians.
  ProbSamOutput forward(const ProbSamInputs& inputs,
                        c10::optional<at::Generator> generator = c10::nullopt);

  // Inference for ONE image: n latent codes drawn from the prior and decoded in ONE decoder
  // call that shares the embedding, plus the decoding at the prior mean.
  //   image_embedding [1,C,h,w]; image [1,3,S,S] (pixel latent nets only, else may be
  //   undefined); box [1,4]; out_hw: size of the returned logits.
  // Deterministic kind: the decoder runs once and samples is that output repeated n times
  // (prior_mean is the same output).
  SampleOutput sample(const torch::Tensor& image_embedding, const torch::Tensor& image,
                      const torch::Tensor& box, int64_t n, std::array<int64_t, 2> out_hw,
                      c10::optional<at::Generator> generator = c10::nullopt);

  // Training: n reparameterised draws per image from `prior` (differentiable in its mu and
  // sigma), each decoded with the image's box: logits [B,n,H,W] at out_hw. The energy score of
  // these draws trains what evaluation samples. Not for the deterministic kind.
  torch::Tensor prior_draws(const torch::Tensor& image_embedding, const torch::Tensor& boxes,
                            const DiagonalGaussian& prior, int64_t n,
                            std::array<int64_t, 2> out_hw,
                            c10::optional<at::Generator> generator = c10::nullopt);

  // The prior (posterior = false, target undefined) or posterior Gaussian for a batch; uses
  // image or image_embedding by latent-net kind. Not for the deterministic kind.
  DiagonalGaussian prior(const torch::Tensor& image_embedding, const torch::Tensor& image);
  DiagonalGaussian posterior(const torch::Tensor& image_embedding, const torch::Tensor& image,
                             const torch::Tensor& target);

  // Low-resolution logits [B,1,4h,4w] for boxes [B,4] with z [B,L] (projected and added to the
  // sparse tokens; undefined z = plain SAM). batching: kPaired for B embeddings, kShared for one
  // embedding [1,C,h,w] used by all B prompts (sampling). dropout: in the mask decoder
  // (MC-dropout SAM); null = none.
  torch::Tensor decode(const torch::Tensor& image_embedding, const torch::Tensor& boxes,
                       const torch::Tensor& z, sam::EmbeddingBatching batching,
                       const sam::Dropout* dropout = nullptr);

  // The parameters the optimiser should update (those of config.trainable).
  std::vector<torch::Tensor> trainable_parameters() const;

  const ProbSamConfig& config() const { return config_; }
  bool deterministic() const { return config_.deterministic(); }
  bool reads_pixels() const;  // the latent nets need the image (reference, axis_aligned)

  sam::Sam sam{nullptr};
  std::shared_ptr<LatentNetImpl> prior_net, posterior_net;  // null for none
  Fcomb fcomb{nullptr};                                     // null for none

 private:
  ProbSamConfig config_;
};
TORCH_MODULE(ProbSam);

}  // namespace psam::prob
