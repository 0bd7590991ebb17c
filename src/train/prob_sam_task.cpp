#include "psam/train/prob_sam_task.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "psam/util/error.h"

namespace psam::train {

ProbSamTask::ProbSamTask(prob::ProbSam model, LossConfig loss, c10::Device device,
                         data::EmbeddingCache* cache)
    : model_(std::move(model)), loss_(loss), device_(device), cache_(cache) {
  loss_.validate();
  PSAM_CHECK(cache_ == nullptr || !model_->config().trainable.image_encoder,
             "the embedding cache needs a frozen image encoder (model.trainable.image_encoder)");
}

NamedParameters ProbSamTask::trainable_parameters() {
  NamedParameters out;
  for (const auto& item : model_->named_parameters(/*recurse=*/true)) {
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

at::Tensor ProbSamTask::embeddings(const data::Batch& batch) {
  if (cache_ == nullptr) return model_->embed(batch.image.to(device_));
  const at::Tensor cached = cache_->get_or_compute(batch.index, [&](const std::vector<int64_t>& rows) {
    const at::Tensor index = at::tensor(rows, at::kLong);
    return model_->embed(batch.image.index_select(0, index).to(device_));
  });
  return cached.to(device_);
}

StepLoss ProbSamTask::loss(const data::Batch& batch, int64_t step, at::Generator generator) {
  const int64_t size = model_->config().sam.img_size;
  PSAM_CHECK(batch.image.size(-1) == size && batch.masks.size(-1) == size,
             fmt::format("ProbSamTask: batches must be at the model's input size {} with masks "
                         "in the input frame, got image {} and masks {}",
                         size, batch.image.size(-1), batch.masks.size(-1)));
  prob::ProbSamInputs in;
  in.image_embedding = embeddings(batch);
  if (model_->reads_pixels()) in.image = batch.image.to(device_);
  in.boxes = batch.box.to(device_);
  // The first mask: the drawn annotator (random_one), the fixed one, or annotator 0 of `all`.
  in.target = batch.masks.narrow(1, 0, 1).to(device_, at::kFloat);
  // The CPU generator drives CPU runs; on CUDA the default CUDA generator does.
  const prob::ProbSamOutput out =
      model_->forward(in, device_.is_cpu() ? c10::optional<at::Generator>(generator) : c10::nullopt);
  const LossTerms terms =
      prob_sam_loss(out.logits, in.target, out.posterior, out.prior, loss_, step);
  StepLoss result;
  result.total = terms.total;
  result.terms = {{"bce", terms.bce.detach()}, {"dice", terms.dice.detach()}};
  if (!model_->deterministic()) result.terms.emplace_back("kl", terms.kl.detach());
  return result;
}

}  // namespace psam::train
