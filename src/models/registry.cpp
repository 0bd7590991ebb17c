#include "psam/models/registry.h"

#include <fmt/format.h>

#include "psam/models/adapter_sam/adapter_sam_model.h"
#include "psam/models/box_ellipse/box_ellipse_model.h"
#include "psam/models/load.h"
#include "psam/models/mc_dropout_sam/mc_dropout_sam_model.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/prob_unet/prob_unet_model.h"
#include "psam/models/ua_sam/ua_sam_model.h"
#include "psam/models/usam/usam_model.h"
#include "psam/util/error.h"
#include "psam/util/names.h"

namespace psam::models {
namespace {

template <class M>
std::unique_ptr<Model> make(const ModelConfig& config) {
  return std::make_unique<M>(config);
}

}  // namespace

const std::vector<ModelEntry>& registry() {
  static const std::vector<ModelEntry> entries = {
      {"prob_sam",
       "Probabilistic SAM: a latent z from prior/posterior nets added to the prompt tokens "
       "(latent_net none: the deterministic SAM)",
       make<ProbSamModel>},
      {"prob_unet",
       "Probabilistic U-Net (Kohl et al. 2018): U-Net features and a latent z from prior/"
       "posterior nets combined by 1x1 convolutions; the image at its own size, no prompt",
       make<ProbUnetModel>},
      {"mc_dropout_sam", "MC-dropout SAM: dropout in the mask decoder, kept on for the samples",
       make<McDropoutSamModel>},
      {"adapter_sam",
       "adapter SAM (Med-SA style): bottleneck adapters in a frozen ViT; deterministic",
       make<AdapterSamModel>},
      {"ua_sam",
       "UA-SAM: a latent z from prior/posterior nets modulates an uncertainty adapter after "
       "every ViT block",
       make<UaSamModel>},
      {"usam",
       "UncertainSAM (Kaiser et al. 2025) on SAM1: MLP heads on the frozen decoder's tokens "
       "predict the mask's IoU and its task and prompt gaps",
       make<UsamModel>},
      {"box_ellipse",
       "the ellipse inscribed in the prompt box, at image size: the prompt-only baseline (learns "
       "nothing)",
       make<BoxEllipseModel>, /*learns=*/false},
  };
  return entries;
}

const ModelEntry& registry_entry(const std::string& kind) {
  for (const auto& entry : registry()) {
    if (kind == entry.kind) return entry;
  }
  fail(fmt::format("model.kind '{}': expected {}", kind, join_alternatives(model_kinds())));
}

std::vector<std::string> model_kinds() {
  std::vector<std::string> kinds;
  for (const auto& entry : registry()) kinds.emplace_back(entry.kind);
  return kinds;
}

std::unique_ptr<Model> build_model(const ModelConfig& config, const c10::Device& device) {
  config.validate();
  std::unique_ptr<Model> model = registry_entry(config.kind).make(config);
  if (!config.init_from.empty()) init_from(*model, config.init_from);
  model->to(device);
  return model;
}

std::unique_ptr<Model> build_unlearned(const std::string& kind, const c10::Device& device) {
  const ModelEntry& entry = registry_entry(kind);
  PSAM_CHECK(!entry.learns, fmt::format("model.kind {} learns its weights from data: give a "
                                        "trained checkpoint (--run or --checkpoint)",
                                        kind));
  ModelConfig config;
  config.kind = kind;
  return build_model(config, device);
}

}  // namespace psam::models
