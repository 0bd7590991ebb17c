#include "psam/geometry/frame.h"
#include "psam/prob/prob_sam.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include <utility>

#include "psam/util/error.h"

namespace psam::prob {
namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? fmt::format("{}", fmt::streamed(t.sizes())) : "none";
}

void set_requires_grad(torch::nn::Module& module, bool on) {
  for (auto& p : module.parameters()) p.set_requires_grad(on);
}

}  // namespace

LatentNetOptions ProbSamConfig::latent_options(bool posterior) const {
  PSAM_CHECK(!deterministic(), "ProbSamConfig: latent_net none has no latent nets");
  LatentNetOptions o;
  o.kind = latent_net;
  o.latent_dim = latent_dim;
  o.in_channels = o.kind == LatentNetKind::kEmbedding ? sam.prompt_embed_dim : sam.in_chans;
  o.posterior = posterior;
  o.input_size = latent_input_size;
  o.num_filters = axis_aligned_filters;
  o.convs_per_block = axis_aligned_convs_per_block;
  o.hidden_channels = embedding_hidden_channels;
  return o;
}

void ProbSamConfig::validate() const {
  sam.validate();
  PSAM_CHECK(projector_hidden >= 0,
             fmt::format("ProbSamConfig: projector_hidden must be >= 0 (0 = prompt width), got {}",
                         projector_hidden));
  if (!deterministic()) latent_options(false).validate();
}

FcombImpl::FcombImpl(int64_t latent_dim, int64_t hidden, int64_t prompt_dim) {
  z_projector = register_module(
      "z_projector", torch::nn::Sequential(torch::nn::Linear(latent_dim, hidden), torch::nn::ReLU(),
                                           torch::nn::Linear(hidden, prompt_dim)));
}

torch::Tensor FcombImpl::forward(const torch::Tensor& z) {
  return z_projector->forward(z).unsqueeze(1);
}

ProbSamImpl::ProbSamImpl(ProbSamConfig config) : config_(std::move(config)) {
  config_.validate();
  sam = register_module("sam", sam::Sam(config_.sam));
  const auto& t = config_.trainable;
  set_requires_grad(*sam->image_encoder, t.image_encoder);
  set_requires_grad(*sam->prompt_encoder, t.prompt_encoder);
  set_requires_grad(*sam->mask_decoder, t.mask_decoder);
  if (deterministic()) return;
  prior_net = register_module("prior_net", make_latent_net(config_.latent_options(false)));
  posterior_net = register_module("posterior_net", make_latent_net(config_.latent_options(true)));
  const int64_t width = config_.sam.prompt_embed_dim;
  fcomb = register_module(
      "fcomb", Fcomb(config_.latent_dim,
                     config_.projector_hidden > 0 ? config_.projector_hidden : width, width));
  set_requires_grad(*prior_net, t.latent_nets);
  set_requires_grad(*posterior_net, t.latent_nets);
  set_requires_grad(*fcomb, t.z_projector);
}

bool ProbSamImpl::reads_pixels() const { return !deterministic() && !prior_net->reads_embedding(); }

torch::Tensor ProbSamImpl::embed(const torch::Tensor& image) {
  // A frozen encoder needs no graph: keeping its activations would cost far more memory than
  // the rest of the model.
  c10::optional<torch::NoGradGuard> no_grad;
  if (!config_.trainable.image_encoder) no_grad.emplace();
  return sam->image_encoder->forward(image);
}

DiagonalGaussian ProbSamImpl::prior(const torch::Tensor& image_embedding,
                                    const torch::Tensor& image) {
  PSAM_CHECK(!deterministic(), "ProbSam: latent_net none has no prior");
  return prior_net->forward(LatentInputs{image, image_embedding});
}

DiagonalGaussian ProbSamImpl::posterior(const torch::Tensor& image_embedding,
                                        const torch::Tensor& image, const torch::Tensor& target) {
  PSAM_CHECK(!deterministic(), "ProbSam: latent_net none has no posterior");
  return posterior_net->forward(LatentInputs{image, image_embedding}, target);
}

torch::Tensor ProbSamImpl::decode(const torch::Tensor& image_embedding, const torch::Tensor& boxes,
                                  const torch::Tensor& z, sam::EmbeddingBatching batching,
                                  const sam::Dropout* dropout) {
  PSAM_CHECK(boxes.defined() && boxes.dim() == 2 && boxes.size(1) == 4,
             fmt::format("ProbSam: boxes must be [B,4], got {}", shape_of(boxes)));
  sam::PromptInputs prompt;
  prompt.boxes = boxes;
  auto [sparse, dense] = sam->prompt_encoder->forward(prompt);
  if (z.defined()) {
    PSAM_CHECK(!deterministic(), "ProbSam: latent_net none takes no latent code");
    PSAM_CHECK(z.dim() == 2 && z.size(0) == boxes.size(0) && z.size(1) == config_.latent_dim,
               fmt::format("ProbSam: z must be [{},{}], got {}", boxes.size(0), config_.latent_dim,
                           shape_of(z)));
    sparse = sparse + fcomb->forward(z);
  }
  return sam->mask_decoder
      ->forward(image_embedding, sam->prompt_encoder->get_dense_pe(), sparse, dense,
                /*multimask_output=*/false, batching, dropout)
      .masks;
}

ProbSamOutput ProbSamImpl::forward(const ProbSamInputs& in,
                                   c10::optional<at::Generator> generator) {
  PSAM_CHECK(in.image_embedding.defined() && in.image_embedding.dim() == 4,
             fmt::format("ProbSam: image_embedding must be [B,C,h,w], got {}",
                         shape_of(in.image_embedding)));
  const int64_t B = in.image_embedding.size(0);
  PSAM_CHECK(in.target.defined() && in.target.dim() == 4 && in.target.size(0) == B &&
                 in.target.size(1) == 1,
             fmt::format("ProbSam: target must be [{},1,H,W], got {}", B, shape_of(in.target)));
  PSAM_CHECK(!reads_pixels() || in.image.defined(),
             fmt::format("ProbSam: the {} latent nets need the image", to_string(config_.latent_net)));
  ProbSamOutput out;
  if (!deterministic()) {
    out.posterior = posterior(in.image_embedding, in.image, in.target);
    out.prior = prior(in.image_embedding, in.image);
    out.z = out.posterior.rsample(std::move(generator));
  }
  out.low_res_logits = decode(in.image_embedding, in.boxes, out.z, sam::EmbeddingBatching::kPaired);
  out.logits = geometry::resize_logits(out.low_res_logits, {in.target.size(2), in.target.size(3)});
  return out;
}

SampleOutput ProbSamImpl::sample(const torch::Tensor& image_embedding, const torch::Tensor& image,
                                 const torch::Tensor& box, int64_t n, std::array<int64_t, 2> out_hw,
                                 c10::optional<at::Generator> generator) {
  PSAM_CHECK(n >= 1, fmt::format("ProbSam: sample count must be >= 1, got {}", n));
  PSAM_CHECK(
      image_embedding.defined() && image_embedding.dim() == 4 && image_embedding.size(0) == 1,
      fmt::format("ProbSam: sample takes one image embedding [1,C,h,w], got {}",
                  shape_of(image_embedding)));
  PSAM_CHECK(box.defined() && box.dim() == 2 && box.size(0) == 1 && box.size(1) == 4,
             fmt::format("ProbSam: sample takes one box [1,4], got {}", shape_of(box)));
  SampleOutput out;
  if (deterministic()) {
    const auto logits = geometry::resize_logits(
        decode(image_embedding, box, {}, sam::EmbeddingBatching::kPaired), out_hw);
    out.samples = logits.expand({n, -1, -1, -1});
    out.prior_mean = logits;
    return out;
  }
  PSAM_CHECK(!reads_pixels() || image.defined(),
             fmt::format("ProbSam: the {} latent nets need the image", to_string(config_.latent_net)));
  const auto p = prior(image_embedding, image);
  out.z = p.sample(n, std::move(generator)).squeeze(1);
  // The n codes and the prior mean go through one decoder call that shares the embedding.
  const auto codes = torch::cat({out.z, p.mu()}, 0);
  const auto logits = geometry::resize_logits(
      decode(image_embedding, box.expand({n + 1, 4}), codes, sam::EmbeddingBatching::kShared),
      out_hw);
  out.samples = logits.slice(0, 0, n);
  out.prior_mean = logits.slice(0, n);
  return out;
}

torch::Tensor ProbSamImpl::prior_draws(const torch::Tensor& image_embedding,
                                       const torch::Tensor& boxes, const DiagonalGaussian& prior,
                                       int64_t n, std::array<int64_t, 2> out_hw,
                                       c10::optional<at::Generator> generator) {
  PSAM_CHECK(!deterministic(), "ProbSam: latent_net none has no prior to draw from");
  PSAM_CHECK(n >= 1, fmt::format("ProbSam: draw count must be >= 1, got {}", n));
  const int64_t B = image_embedding.size(0);
  PSAM_CHECK(prior.defined() && prior.batch_size() == B,
             fmt::format("ProbSam: prior_draws needs a prior for the {} embeddings", B));
  // [n,B,L] -> image-major [B*n,L], matching the repeated embeddings and boxes.
  const auto z = prior.rsample(n, std::move(generator)).transpose(0, 1).reshape({B * n, -1});
  const auto logits = decode(image_embedding.repeat_interleave(n, 0),
                             boxes.repeat_interleave(n, 0), z, sam::EmbeddingBatching::kPaired);
  return geometry::resize_logits(logits, out_hw).view({B, n, out_hw[0], out_hw[1]});
}

std::vector<torch::Tensor> ProbSamImpl::trainable_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace psam::prob
