#include "psam/train/model_config.h"

#include <fmt/format.h>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/util/log.h"

namespace psam::train {
namespace {

bool has_prefix(const io::TensorDict& tensors, const std::string& prefix) {
  for (const auto& [name, t] : tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

}  // namespace

prob::ProbSam build_model(const ModelConfig& config, const c10::Device& device) {
  config.prob.validate();
  prob::ProbSam model(config.prob);
  if (!config.init_from.empty()) {
    const io::TensorDict tensors = io::read_tensors(config.init_from);
    const std::string sam_prefix = sam::find_sam_prefix(tensors, config.init_from);
    // A ProbSam file holds SAM under "<root>sam."; its latent parts sit beside it.
    const bool nested = sam_prefix.size() >= 4 && sam_prefix.substr(sam_prefix.size() - 4) == "sam.";
    const std::string root = nested ? sam_prefix.substr(0, sam_prefix.size() - 4) : "";
    if (nested && !model->deterministic() && has_prefix(tensors, root + "prior_net.")) {
      io::load_state_dict(*model, tensors, root, config.init_from);
      log::info(fmt::format("model: every weight from {}", config.init_from));
    } else {
      io::load_state_dict(*model->sam, tensors, sam_prefix, config.init_from);
      log::info(fmt::format("model: SAM weights from {}{}", config.init_from,
                            model->deterministic() ? "" : "; latent nets fresh"));
    }
  }
  model->to(device);
  return model;
}

}  // namespace psam::train
