// Training any registered method with the generic trainer: the batch's loss is the method's own
// (models::Model::loss) under the run's loss section, with GECO's multiplier applied to its KL
// term when loss.kl_control is geco (the task holds GECO's state; checkpoints save it).
#pragma once

#include "psam/models/model.h"
#include "psam/train/geco.h"
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
  // Under GECO also logs geco_c (this batch's rec - kappa) and geco_lambda (the multiplier used).
  StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) override;
  // GECO: folds the step's mean geco_c into C's moving average and updates lambda.
  void after_step(const NamedValues& terms) override;
  // GECO: geco_lambda, geco_c_ma, geco_updates; empty otherwise.
  NamedValues state() const override;
  // A checkpoint without GECO's state (GECO was off) starts GECO afresh.
  void load_state(const NamedValues& state) override;

  const GecoState& geco() const { return geco_; }

 private:
  models::Model& model_;
  LossConfig loss_;
  GecoState geco_;
};

}  // namespace psam::train
