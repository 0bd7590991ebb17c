#include "psam/models/prob_sam/prob_sam_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/geometry/frame.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {

ProbSamModel::ProbSamModel(const ModelConfig& config) : Model(config), net_(config.prob) {}

void ProbSamModel::prepare_loader(data::LoaderOptions& options, bool training) const {
  set_sam_frame(options, config().prob.sam);
  // The loss compares logits with the target in the frame; evaluation scores at image size.
  options.resize_masks = training;
}

at::Tensor ProbSamModel::embeddings(const data::Batch& batch) {
  return sam_embeddings(batch, embedding_cache(), device(),
                        [&](const at::Tensor& images) { return net_->embed(images); });
}

void ProbSamModel::check_frame(const data::Batch& batch, bool masks_in_frame) const {
  const int64_t size = config().prob.sam.img_size;
  PSAM_CHECK(batch.image.defined() && batch.image.size(-1) == size &&
                 (!masks_in_frame || batch.masks.size(-1) == size),
             fmt::format("{}: batches must be at the model's input size {}{}, got image {}{}",
                         kind(), size, masks_in_frame ? " with masks in the input frame" : "",
                         batch.image.defined() ? batch.image.size(-1) : 0,
                         masks_in_frame ? fmt::format(" and masks {}", batch.masks.size(-1))
                                        : std::string()));
}

train::StepLoss ProbSamModel::loss(const data::Batch& batch, const train::LossConfig& loss,
                                   int64_t step, at::Generator generator) {
  const c10::Device dev = device();
  check_frame(batch, /*masks_in_frame=*/true);
  prob::ProbSamInputs in;
  in.image_embedding = embeddings(batch);
  if (net_->reads_pixels()) in.image = batch.image.to(dev);
  in.boxes = batch.box.to(dev);
  // The first mask: the drawn annotator (random_one), the fixed one, or annotator 0 of `all`.
  in.target = batch.masks.narrow(1, 0, 1).to(dev, at::kFloat);
  const prob::ProbSamOutput out = net_->forward(in, cpu_generator(dev, generator));
  const train::LossTerms terms =
      train::prob_sam_loss(out.logits, in.target, out.posterior, out.prior, loss, step);
  train::StepLoss result;
  result.total = terms.total;
  result.terms = {{"bce", terms.bce.detach()}, {"dice", terms.dice.detach()}};
  if (config().prob.deterministic()) return result;
  result.terms.emplace_back("kl", terms.kl.detach());
  result.beta = terms.beta;
  result.kl_term = terms.kl_term;
  result.reconstruction = terms.reconstruction.detach();
  if (loss.energy_weight > 0) {
    // The prior's own draws against every mask of the batch (one rater under random_one).
    const at::Tensor draws =
        net_->prior_draws(in.image_embedding, in.boxes, out.prior, loss.energy_samples,
                          {in.target.size(2), in.target.size(3)}, cpu_generator(dev, generator));
    const at::Tensor energy =
        train::energy_score(at::sigmoid(draws), batch.masks.to(dev, at::kFloat));
    result.total = result.total + loss.energy_weight * energy;
    result.terms.emplace_back("energy", energy.detach());
  }
  if (loss.l2_weight > 0) {
    std::vector<at::Tensor> regularised;
    const auto add = [&](const torch::nn::Module& part) {
      for (const auto& p : part.parameters()) regularised.push_back(p);
    };
    add(*net_->prior_net);
    add(*net_->posterior_net);
    add(*net_->fcomb);
    const at::Tensor l2 = train::l2_norm_sum(regularised);
    result.total = result.total + loss.l2_weight * l2;
    result.terms.emplace_back("l2", l2.detach());
  }
  return result;
}

CaseSamples ProbSamModel::sample(const data::Batch& batch, int64_t n, at::Generator generator) {
  check_one_case(batch, kind());
  check_frame(batch, /*masks_in_frame=*/false);
  const c10::Device dev = device();
  const int64_t s = config().prob.sam.img_size;
  const at::Tensor image = batch.image.to(dev);
  const at::Tensor embedding = case_embedding([&] { return embeddings(batch); });
  const auto drawn = net_->sample(embedding, net_->reads_pixels() ? image : at::Tensor(),
                                  batch.box.to(dev), n, {s, s}, cpu_generator(dev, generator));
  // The n samples and the prior mean go back to the image in one call.
  const at::Tensor logits =
      geometry::frame_to_image(torch::cat({drawn.samples, drawn.prior_mean}), s, batch.size)
          .squeeze(1);
  CaseSamples out;
  out.logits = logits.slice(0, 0, n);
  out.mean_logits = logits[n];
  out.z = drawn.z;
  return out;
}

std::optional<CacheableEncoder> ProbSamModel::cacheable_encoder() {
  if (config().prob.trainable.image_encoder) return std::nullopt;
  return sam_cacheable_encoder(*net_->sam);
}

std::vector<ExportPart> ProbSamModel::export_parts() const {
  std::vector<ExportPart> parts = {
      {"sam", "the SAM weights in the official segment_anything layout",
       /*whole_method=*/config().prob.deterministic()}};
  if (!config().prob.deterministic()) {
    parts.push_back({"full",
                     "the reference Probabilistic SAM tree (sam.*, prior_net.*, posterior_net.*, "
                     "fcomb.z_projector.*, fcomb.decoder.*)",
                     /*whole_method=*/true});
  }
  return parts;
}

io::TensorDict ProbSamModel::export_state(const std::string& part) {
  const io::TensorDict state = io::state_dict(*net_);
  if (part == "sam")
    return sam::official_sam_state_dict(state.with_prefix_removed("sam."), config().prob.sam,
                                        "the model");
  const bool latent = !config().prob.deterministic();
  if (part == "full" && latent)
    return sam::reference_prob_sam_state_dict(state, config().prob.sam, "the model");
  fail(fmt::format("{}{}: no export part '{}'", kind(), latent ? "" : " (latent_net none)", part));
}

void ProbSamModel::init_from_foreign(const io::TensorDict& state, const std::string& source) {
  // A Probabilistic SAM file without a stored config (written before configs were stored):
  // every weight, when the model has latent nets and the file has them too.
  const auto prob_state = sam::prob_sam_state(state, source);
  const bool has_latent = prob_state && has_prefix(*prob_state, "prior_net.");
  const bool latent = !config().prob.deterministic();
  if (has_latent && latent) {
    io::load_state_dict(*net_, *prob_state, "", source);
    log::info(fmt::format("model: every weight from {}", source));
    return;
  }
  // Otherwise the SAM weights alone (official SAM / MedSAM, or the SAM part of any psam file).
  const auto prefix = sam::find_sam_prefix(state, source);
  io::load_state_dict(*net_->sam, state, prefix, source);
  log::info(fmt::format("model: SAM weights from {}{}{}", source,
                        prefix.empty() ? "" : " (under '" + prefix + "')",
                        latent ? "; latent nets fresh" : ""));
}

}  // namespace psam::models
