// Training Probabilistic SAM (or the deterministic baseline) with the generic trainer: a batch's
// image embeddings (from the embedding cache when the encoder is frozen), the posterior draw,
// the decoder, and BCE + Dice + beta * KL against the batch's annotator mask.
#pragma once

#include <c10/core/Device.h>

#include "psam/data/embedding_cache.h"
#include "psam/prob/prob_sam.h"
#include "psam/train/loss.h"
#include "psam/train/trainer.h"

namespace psam::train {

class ProbSamTask : public TrainTask {
 public:
  // Batches must come with masks in the input frame (LoaderOptions::resize_masks) and at the
  // model's input size. cache: null, or the cache of this store and encoder (only valid while
  // the encoder is frozen; psam::Error otherwise).
  ProbSamTask(prob::ProbSam model, LossConfig loss, c10::Device device,
              data::EmbeddingCache* cache = nullptr);

  torch::nn::Module& module() override { return *model_; }
  NamedParameters trainable_parameters() override;
  StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) override;

  // The batch's image embeddings [B,C,h,w] on the device: cached (float16-rounded) values or
  // the encoder's output.
  at::Tensor embeddings(const data::Batch& batch);

 private:
  prob::ProbSam model_;
  LossConfig loss_;
  c10::Device device_;
  data::EmbeddingCache* cache_;
};

}  // namespace psam::train
