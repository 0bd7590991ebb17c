#include "psam/train/model_config.h"

#include <fmt/format.h>

#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/util/log.h"

namespace psam::train {
namespace {

bool has_prefix(const io::TensorDict& tensors, const std::string& prefix) {
  for (const auto& [name, t] : tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

// init_from: every weight from a Probabilistic SAM file (a psam checkpoint or either export) when
// the model has latent nets and the file has them too, else the SAM weights alone (an official
// or MedSAM checkpoint, or the SAM part of any psam file).
void init_from(prob::ProbSam& model, const std::string& path) {
  const auto file_state = sam::read_model_state_dict(path);
  const auto prob_state = sam::prob_sam_state(file_state, path);
  if (prob_state && !model->deterministic() && has_prefix(*prob_state, "prior_net.")) {
    io::load_state_dict(*model, *prob_state, "", path);
    log::info(fmt::format("model: every weight from {}", path));
    return;
  }
  const auto prefix = sam::find_sam_prefix(file_state, path);
  io::load_state_dict(*model->sam, file_state, prefix, path);
  log::info(fmt::format("model: SAM weights from {}{}{}", path,
                        prefix.empty() ? "" : " (under '" + prefix + "')",
                        model->deterministic() ? "" : "; latent nets fresh"));
}

}  // namespace

prob::ProbSam build_model(const ModelConfig& config, const c10::Device& device) {
  config.prob.validate();
  prob::ProbSam model(config.prob);
  if (!config.init_from.empty()) init_from(model, config.init_from);
  model->to(device);
  return model;
}

}  // namespace psam::train
