#include "psam/geometry/frame.h"
#include "psam/models/mc_dropout_sam/mc_dropout_sam_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/util/error.h"

namespace psam::models {

McDropoutSamModel::McDropoutSamModel(const ModelConfig& config)
    : ProbSamModel(without_latent_nets(config)) {}

train::StepLoss McDropoutSamModel::loss(const data::Batch& batch, const train::LossConfig& loss,
                                        int64_t step, at::Generator generator) {
  const c10::Device dev = device();
  check_frame(batch, /*masks_in_frame=*/true);
  const sam::Dropout dropout(config().mc_dropout_sam.rate, cpu_generator(dev, generator));
  const at::Tensor target = batch.masks.narrow(1, 0, 1).to(dev, at::kFloat);
  const at::Tensor low_res = net()->decode(embeddings(batch), batch.box.to(dev), {},
                                           sam::EmbeddingBatching::kPaired, &dropout);
  const at::Tensor logits = geometry::resize_logits(low_res, {target.size(2), target.size(3)});
  const train::LossTerms terms = train::prob_sam_loss(logits, target, {}, {}, loss, step);
  train::StepLoss result;
  result.total = terms.total;
  result.terms = {{"bce", terms.bce.detach()}, {"dice", terms.dice.detach()}};
  return result;
}

CaseSamples McDropoutSamModel::sample(const data::Batch& batch, int64_t n,
                                      at::Generator generator) {
  check_one_case(batch, kind());
  check_frame(batch, /*masks_in_frame=*/false);
  PSAM_CHECK(n >= 1, fmt::format("mc_dropout_sam: sample count must be >= 1, got {}", n));
  const c10::Device dev = device();
  const int64_t s = config().prob.sam.img_size;
  const at::Tensor embedding = case_embedding([&] { return embeddings(batch); });
  const at::Tensor box = batch.box.to(dev);
  const sam::Dropout dropout(config().mc_dropout_sam.rate, cpu_generator(dev, generator));
  const at::Tensor drawn =
      net()->decode(embedding, box.expand({n, 4}), {}, sam::EmbeddingBatching::kShared, &dropout);
  const at::Tensor mean = net()->decode(embedding, box, {}, sam::EmbeddingBatching::kPaired);
  const at::Tensor logits =
      geometry::frame_to_image(torch::cat({drawn, mean}), s, batch.size).squeeze(1);
  CaseSamples out;
  out.logits = logits.slice(0, 0, n);
  out.mean_logits = logits[n];
  return out;
}

}  // namespace psam::models
