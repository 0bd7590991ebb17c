#include "psam/train/model_task.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "psam/util/error.h"
#include "psam/util/names.h"

namespace psam::train {

models::ActivationCheckpointing activation_checkpointing(const TrainConfig& config) {
  const auto& parts = config.activation_checkpointing;
  const auto named = [&](const char* part) {
    return std::find(parts.begin(), parts.end(), part) != parts.end();
  };
  models::ActivationCheckpointing out;
  out.image_encoder_stride = named("image_encoder") ? config.activation_checkpointing_stride : 0;
  out.mask_decoder = named("mask_decoder");
  out.latent_nets = named("latent_nets");
  return out;
}

ModelTask::ModelTask(models::Model& model, LossConfig loss) : model_(model), loss_(loss) {
  loss_.validate();
}

StepLoss ModelTask::loss(const data::Batch& batch, int64_t step, at::Generator generator) {
  StepLoss out = model_.loss(batch, loss_, step, std::move(generator));
  PSAM_CHECK(loss_.energy_weight == 0 ||
                 std::any_of(out.terms.begin(), out.terms.end(),
                             [](const auto& term) { return term.first == "energy"; }),
             fmt::format("loss.energy_weight: method {} has no prior samples to score (prob_sam "
                         "with a latent net has)",
                         model_.kind()));
  if (loss_.kl_control == KlControl::kNone) return out;
  PSAM_CHECK(out.kl_term.defined(),
             fmt::format("loss.kl_control {}: method {} has no latent KL term to control",
                         name_of(loss_.kl_control), model_.kind()));
  if (loss_.kl_control != KlControl::kGeco) return out;
  // total - kl_term + kl_term / lambda: the KL weight divided by lambda (train/geco.h), whatever
  // else (e.g. the L2 term) the method added.
  out.total = out.total + (1.0 / geco_.lambda - 1.0) * out.kl_term;
  out.terms.emplace_back("geco_c", out.reconstruction - loss_.geco.kappa);
  out.terms.emplace_back("geco_lambda", at::scalar_tensor(geco_.lambda, at::kDouble));
  return out;
}

void ModelTask::after_step(const NamedValues& terms) {
  if (loss_.kl_control != KlControl::kGeco) return;
  const auto c = std::find_if(terms.begin(), terms.end(),
                              [](const auto& term) { return term.first == "geco_c"; });
  PSAM_CHECK(c != terms.end(), "GECO: the step logged no geco_c term");
  geco_update(geco_, loss_.geco, c->second);
}

NamedValues ModelTask::state() const {
  if (loss_.kl_control != KlControl::kGeco) return {};
  return {{"geco_lambda", geco_.lambda},
          {"geco_c_ma", geco_.c_ma},
          {"geco_updates", static_cast<double>(geco_.updates)}};
}

void ModelTask::load_state(const NamedValues& state) {
  geco_ = GecoState{};
  for (const auto& [name, value] : state) {
    if (name == "geco_lambda") geco_.lambda = value;
    if (name == "geco_c_ma") geco_.c_ma = value;
    if (name == "geco_updates") geco_.updates = static_cast<int64_t>(value);
  }
}

}  // namespace psam::train
