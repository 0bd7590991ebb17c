#include "psam/models/prob_unet/prob_unet_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/io/state_dict.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {

ProbUnetModel::ProbUnetModel(const ModelConfig& config) : Model(config), net_(config.prob_unet) {}

void ProbUnetModel::prepare_loader(data::LoaderOptions& options, bool /*training*/) const {
  options.input_size = 0;
  options.raw_image = true;
  options.resize_masks = false;
}

at::Tensor ProbUnetModel::input(const data::Batch& batch) {
  PSAM_CHECK(
      batch.raw_image.defined() && batch.raw_image.dim() == 4 && batch.raw_image.size(1) == 3,
      "prob_unet: batches must carry the image at store size (raw_image [B,3,H,W]); "
      "prepare the loader with the model's prepare_loader");
  const at::Tensor raw = batch.raw_image.to(device());
  return net_->config().input_channels == 1 ? raw.mean(1, /*keepdim=*/true) : raw;
}

train::StepLoss ProbUnetModel::loss(const data::Batch& batch, const train::LossConfig& loss,
                                    int64_t step, at::Generator generator) {
  const at::Tensor image = input(batch);
  PSAM_CHECK(batch.masks.defined() && batch.masks.sizes().slice(2) == image.sizes().slice(2),
             "prob_unet: the masks must be at the image's size (store size)");
  const at::Tensor target = batch.masks.narrow(1, 0, 1).to(image.device(), at::kFloat);
  const auto net_out = net_->forward(image, target, net_->config().use_posterior_mean,
                                     cpu_generator(image.device(), generator));
  const auto terms =
      train::prob_sam_loss(net_out.logits, target, net_out.posterior, net_out.prior, loss, step);
  train::StepLoss out;
  out.total = terms.total;
  out.terms = {{"bce", terms.bce.detach()}, {"kl", terms.kl.detach()}};
  out.beta = terms.beta;
  out.kl_term = terms.kl_term;
  out.reconstruction = terms.reconstruction.detach();
  if (loss.dice_weight > 0) out.terms.emplace_back("dice", terms.dice.detach());
  if (loss.l2_weight > 0) {
    const at::Tensor l2 = train::l2_norm_sum(net_->regularised_parameters());
    out.total = out.total + loss.l2_weight * l2;
    out.terms.emplace_back("l2", l2.detach());
  }
  return out;
}

CaseSamples ProbUnetModel::sample(const data::Batch& batch, int64_t n, at::Generator generator) {
  PSAM_CHECK(n >= 1, fmt::format("prob_unet: sample count must be >= 1, got {}", n));
  const at::Tensor image = input(batch);
  PSAM_CHECK(image.size(0) == 1,
             fmt::format("prob_unet: sample takes a batch of one case, got {}", image.size(0)));
  const auto features = net_->unet(image);
  const auto p = net_->prior->forward(prob::LatentInputs{image, {}});
  CaseSamples out;
  out.z = p.sample(n, cpu_generator(image.device(), generator)).squeeze(1);
  // The n codes and the prior mean share the one feature map in one Fcomb call.
  const at::Tensor logits = net_->fcomb(features, torch::cat({out.z, p.mu()})).squeeze(1);
  out.logits = logits.slice(0, 0, n);
  out.mean_logits = logits[n];
  return out;
}

std::vector<ExportPart> ProbUnetModel::export_parts() const {
  return {{"reference",
           "the state dict of the Probabilistic U-Net PyTorch port (stefanknegt/Probabilistic-"
           "Unet-Pytorch ProbabilisticUnet, load_state_dict(strict=True))",
           /*whole_method=*/true}};
}

io::TensorDict ProbUnetModel::export_state(const std::string& part) {
  PSAM_CHECK(part == "reference", fmt::format("prob_unet: no export part '{}'", part));
  return io::state_dict(*net_);
}

void ProbUnetModel::init_from_foreign(const io::TensorDict& state, const std::string& source) {
  // The port's state dict, possibly nested (e.g. under "model." or "net.").
  const std::string marker = "unet.contracting_path.0.layers.0.weight";
  for (const auto& key : state.keys()) {
    if (key.size() < marker.size() ||
        key.compare(key.size() - marker.size(), marker.size(), marker) != 0)
      continue;
    const std::string prefix = key.substr(0, key.size() - marker.size());
    io::load_state_dict(*net_, state, prefix, source);
    log::info(fmt::format("model: every Probabilistic U-Net weight from {}{}", source,
                          prefix.empty() ? "" : " (under '" + prefix + "')"));
    return;
  }
  fail(
      fmt::format("{}: no Probabilistic U-Net weights (no {}); prob_unet starts from a "
                  "Probabilistic U-Net state dict or a psam file of the same shape",
                  source, marker));
}

}  // namespace psam::models
