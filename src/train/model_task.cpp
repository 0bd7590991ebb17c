#include "psam/train/model_task.h"

#include <algorithm>

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

}  // namespace psam::train
