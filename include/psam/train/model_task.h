// Training any registered method with the generic trainer: the batch's loss is the method's own
// (models::Model::loss) under the run's loss section.
#pragma once

#include "psam/models/model.h"
#include "psam/train/loss.h"
#include "psam/train/trainer.h"

namespace psam::train {

// train.activation_checkpointing and its stride as the method's parts.
models::ActivationCheckpointing activation_checkpointing(const TrainConfig& config);

class ModelTask : public TrainTask {
 public:
  // model outlives the task.
  ModelTask(models::Model& model, LossConfig loss);

  torch::nn::Module& module() override { return model_.module(); }
  NamedParameters trainable_parameters() override { return model_.trainable_parameters(); }
  StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) override {
    return model_.loss(batch, loss_, step, std::move(generator));
  }

 private:
  models::Model& model_;
  LossConfig loss_;
};

}  // namespace psam::train
