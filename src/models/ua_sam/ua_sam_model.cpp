#include "psam/geometry/frame.h"
#include "psam/models/ua_sam/ua_sam_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {
namespace {

constexpr const char* kLatentPrefix = "Probabilistic_model.";

const ModelConfig& with_frozen_vit_ua(const ModelConfig& config) {
  PSAM_CHECK(!config.prob.trainable.image_encoder,
             "model.kind ua_sam trains adapters in a frozen ViT: set "
             "model.trainable.image_encoder: false");
  return without_latent_nets(config);
}

bool is_ua_sam_key(const std::string& name) {
  for (const char* part :
       {"image_encoder.adapters.", "image_encoder.condition.", "image_encoder.res_MLP."}) {
    if (name.compare(0, std::string(part).size(), part) == 0) return true;
  }
  return false;
}

prob::LatentNetOptions latent_options(const UaSamConfig& c, bool posterior) {
  prob::LatentNetOptions o;
  o.kind = prob::LatentNetKind::kAxisAligned;
  o.latent_dim = c.latent_dim;
  o.in_channels = 3;
  o.posterior = posterior;
  o.input_size = c.latent_input_size;
  o.num_filters = c.num_filters;
  o.log_sigma_bound = 0;  // the Probabilistic U-Net's unclamped sigma, as UA-SAM
  return o;
}

}  // namespace

UaSamModel::UaSamModel(const ModelConfig& config) : ProbSamModel(with_frozen_vit_ua(config)) {
  const sam::SamConfig& s = config.prob.sam;
  const UaSamConfig& u = config.ua_sam;
  const int64_t C = s.encoder_embed_dim;
  const auto D = static_cast<int64_t>(static_cast<double>(C) * u.mlp_ratio);
  PSAM_CHECK(D >= 1, fmt::format("model.ua_sam.mlp_ratio {} leaves a ViT of width {} no "
                                 "adapter bottleneck",
                                 u.mlp_ratio, C));
  const int64_t M = s.encoder_depth;
  auto& encoder = *net()->sam->image_encoder;
  adapters = torch::nn::ModuleList();
  for (int64_t i = 0; i < M; ++i) {
    adapter_list_.emplace_back(C, D, 2 * s.prompt_embed_dim, M, u.latent_dim);
    adapters->push_back(adapter_list_.back());
  }
  encoder.register_module("adapters", adapters);
  condition = encoder.register_module("condition", ConditionTransform(C, M));
  res_MLP = encoder.register_module("res_MLP", make_res_mlp(u.latent_dim, D, C));
  if (!u.train_res_mlp) {
    for (auto& p : res_MLP->parameters()) p.set_requires_grad(false);
  }
  probabilistic_model_ = std::make_shared<torch::nn::Module>("Probabilistic_model");
  prior_net = prob::make_latent_net(latent_options(u, false));
  posterior_net = prob::make_latent_net(latent_options(u, true));
  probabilistic_model_->register_module("prior", prior_net);
  probabilistic_model_->register_module("posterior", posterior_net);
  net()->register_module("Probabilistic_model", probabilistic_model_);
}

sam::PromptEmbeddings UaSamModel::prompts(const at::Tensor& boxes) {
  sam::PromptInputs in;
  if (config().ua_sam.prompt == UaSamPrompt::kBox) {
    in.boxes = boxes;
  } else {
    // One foreground point at the box centre, (x, y).
    in.point_coords = ((boxes.slice(1, 0, 2) + boxes.slice(1, 2, 4)) / 2).unsqueeze(1);
    in.point_labels = torch::ones({boxes.size(0), 1}, boxes.options().dtype(torch::kLong));
  }
  return net()->sam->prompt_encoder->forward(in);
}

at::Tensor UaSamModel::encode(const at::Tensor& image, const at::Tensor& sparse,
                              const at::Tensor& z) {
  // One prompt per image: the max and the mean over it are the prompt itself.
  const at::Tensor P = prompt_vector(sparse.unsqueeze(1));
  const auto last = static_cast<int64_t>(adapter_list_.size()) - 1;
  at::Tensor p;
  return net()->sam->image_encoder->forward(image, [&](int64_t i, const at::Tensor& x) {
    if (i == 0) p = condition(x);
    AdapterOutput a = adapter_list_[static_cast<size_t>(i)](x, p, z, P);
    p = a.cmsm.next_p;
    if (i < last) return a.out;
    // res_MLP acts per position on a z that is the same at every position: run it once per
    // sample and tile its output (equal to the reference's res_MLP of the tiled z). Run on the
    // tiled z, its gradients came out different on every run with libtorch 1.13 (up to 1e19;
    // UaSam.OnlyUaSamPartsAndDecoderTrain); the cause is not yet pinned down.
    return a.out + tile_over_grid(res_MLP->forward(z), x.size(1), x.size(2));
  });
}

at::Tensor UaSamModel::decode_logits(const at::Tensor& image, const at::Tensor& boxes,
                                     const at::Tensor& z) {
  const auto [sparse, dense] = prompts(boxes);
  const at::Tensor embedding = encode(image, sparse, z);
  auto& s = *net()->sam;
  return s.mask_decoder
      ->forward(embedding, s.prompt_encoder->get_dense_pe(), sparse, dense,
                /*multimask_output=*/false, sam::EmbeddingBatching::kPaired)
      .masks;
}

prob::DiagonalGaussian UaSamModel::prior(const at::Tensor& image) {
  return prior_net->forward({image, {}});
}

prob::DiagonalGaussian UaSamModel::posterior(const at::Tensor& image, const at::Tensor& target) {
  return posterior_net->forward({image, {}}, target);
}

train::StepLoss UaSamModel::loss(const data::Batch& batch, const train::LossConfig& loss,
                                 int64_t step, at::Generator generator) {
  const c10::Device dev = device();
  check_frame(batch, /*masks_in_frame=*/true);
  const at::Tensor image = batch.image.to(dev);
  const at::Tensor target = batch.masks.narrow(1, 0, 1).to(dev, at::kFloat);
  const prob::DiagonalGaussian q = posterior(image, target);
  const prob::DiagonalGaussian p = prior(image);
  const at::Tensor z = q.rsample(cpu_generator(dev, generator));
  const at::Tensor logits = geometry::resize_logits(decode_logits(image, batch.box.to(dev), z),
                                               {target.size(2), target.size(3)});
  const train::LossTerms terms = train::prob_sam_loss(logits, target, q, p, loss, step);
  train::StepLoss result;
  result.total = terms.total;
  result.terms = {
      {"bce", terms.bce.detach()}, {"dice", terms.dice.detach()}, {"kl", terms.kl.detach()}};
  result.beta = terms.beta;
  result.kl_term = terms.kl_term;
  result.reconstruction = terms.reconstruction.detach();
  if (loss.l2_weight > 0) {
    std::vector<at::Tensor> regularised = prior_net->parameters();
    for (const auto& t : posterior_net->parameters()) regularised.push_back(t);
    const at::Tensor l2 = train::l2_norm_sum(regularised);
    result.total = result.total + loss.l2_weight * l2;
    result.terms.emplace_back("l2", l2.detach());
  }
  return result;
}

CaseSamples UaSamModel::sample(const data::Batch& batch, int64_t n, at::Generator generator) {
  check_one_case(batch, kind());
  check_frame(batch, /*masks_in_frame=*/false);
  PSAM_CHECK(n >= 1, fmt::format("ua_sam: sample count must be >= 1, got {}", n));
  const c10::Device dev = device();
  const int64_t s = config().prob.sam.img_size;
  const at::Tensor image = batch.image.to(dev);
  const prob::DiagonalGaussian p = prior(image);
  const at::Tensor z = p.sample(n, cpu_generator(dev, generator)).squeeze(1);
  // The prompt stays the case's own; only z differs between the n + 1 rows (n draws, the mean).
  const at::Tensor codes = torch::cat({z, p.mu()}, 0);
  const at::Tensor low =
      decode_logits(image.expand({n + 1, -1, -1, -1}), batch.box.to(dev).expand({n + 1, 4}), codes);
  const at::Tensor logits = geometry::frame_to_image(low, s, batch.size).squeeze(1);
  CaseSamples out;
  out.logits = logits.slice(0, 0, n);
  out.mean_logits = logits[n];
  out.z = z;
  return out;
}

std::vector<ExportPart> UaSamModel::export_parts() const {
  return {{"ua_sam",
           "the UA-SAM reference tree: image_encoder.* (adapters, condition, res_MLP included), "
           "prompt_encoder.*, mask_decoder.*, Probabilistic_model.*",
           /*whole_method=*/true}};
}

io::TensorDict UaSamModel::export_state(const std::string& part) {
  PSAM_CHECK(part == "ua_sam", fmt::format("ua_sam: no export part '{}'", part));
  io::TensorDict out;
  for (const auto& [name, tensor] : io::state_dict(*net())) {
    out.insert(name.compare(0, 4, "sam.") == 0 ? name.substr(4) : name, tensor);
  }
  return out;
}

void UaSamModel::init_from_foreign(const io::TensorDict& state, const std::string& source) {
  const std::string prefix = sam::find_sam_prefix(state, source);
  // The reference keeps the latent nets beside image_encoder; psam's tree beside sam.
  const std::string latent_prefix = kLatentPrefix;
  const ForeignSam foreign = merge_foreign_sam(
      state, prefix, io::state_dict(*net()->sam), is_ua_sam_key, [&](const std::string& name) {
        return name.compare(0, latent_prefix.size(), latent_prefix) == 0;
      });
  io::TensorDict latent = state.with_prefix_removed(prefix + latent_prefix);
  if (latent.empty()) latent = state.with_prefix_removed(latent_prefix);
  io::load_state_dict(*net()->sam, foreign.merged, "", source);
  if (!latent.empty()) {
    io::load_state_dict(*probabilistic_model_, latent, "", source);
  }
  log::info(fmt::format("model: SAM weights from {}{}; UA-SAM adapters {}; latent nets {}", source,
                        prefix.empty() ? "" : " (under '" + prefix + "')",
                        foreign.fresh > 0 ? "fresh" : "from the file",
                        latent.empty() ? "fresh" : "from the file"));
}

}  // namespace psam::models
