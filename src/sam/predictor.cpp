#include "psam/sam/predictor.h"

#include <fmt/ostream.h>

#include "psam/util/error.h"

namespace psam::sam {
namespace {

// Adds the batch dimension to an unbatched prompt tensor.
at::Tensor batched(const at::Tensor& t, int64_t batched_dim) {
  return (t.defined() && t.dim() == batched_dim - 1) ? t.unsqueeze(0) : t;
}

}  // namespace

SamPredictor::SamPredictor(Sam model) : model_(std::move(model)), transform_(model_->img_size()) {}

void SamPredictor::set_image(const at::Tensor& image) {
  at::Tensor chw;
  if (image.scalar_type() == torch::kUInt8) {
    PSAM_CHECK(image.dim() == 3 && image.size(2) == 3,
               fmt::format("SamPredictor.set_image: a uint8 image must be [H,W,3] RGB, got {}",
                           fmt::streamed(image.sizes())));
    chw = image.permute({2, 0, 1});
  } else {
    PSAM_CHECK(image.is_floating_point() && image.dim() == 3 && image.size(0) == 3,
               fmt::format("SamPredictor.set_image: expected uint8 [H,W,3] or floating [3,H,W], "
                           "got {} {}",
                           c10::toString(image.scalar_type()), fmt::streamed(image.sizes())));
    chw = image;
  }
  const std::array<int64_t, 2> original{chw.size(1), chw.size(2)};
  set_torch_image(transform_.apply_image(chw.unsqueeze(0)), original);
}

void SamPredictor::set_torch_image(const at::Tensor& transformed_image,
                                   std::array<int64_t, 2> original_size) {
  const int64_t s = model_->img_size();
  PSAM_CHECK(transformed_image.dim() == 4 && transformed_image.size(0) == 1 &&
                 transformed_image.size(1) == 3 &&
                 std::max(transformed_image.size(2), transformed_image.size(3)) == s,
             fmt::format("SamPredictor.set_torch_image: expected [1,3,h,w] with long side {}, "
                         "got {}",
                         s, fmt::streamed(transformed_image.sizes())));
  reset_image();
  torch::NoGradGuard no_grad;
  const auto device = model_->image_encoder->pos_embed.device();
  original_size_ = original_size;
  input_size_ = {transformed_image.size(2), transformed_image.size(3)};
  features_ = model_->image_encoder(model_->preprocess(transformed_image.to(device)));
}

const at::Tensor& SamPredictor::features() const {
  PSAM_CHECK(is_image_set(), "SamPredictor: no image set (call set_image first)");
  return features_;
}

void SamPredictor::reset_image() {
  features_ = at::Tensor();
  original_size_ = input_size_ = {0, 0};
}

SamPrediction SamPredictor::predict(const PointBoxPrompt& prompt, bool multimask_output) {
  PSAM_CHECK(prompt.point_coords.defined() == prompt.point_labels.defined(),
             "SamPredictor.predict: point_labels must be given with point_coords");
  const auto device = features().device();
  PromptInputs in;
  if (prompt.point_coords.defined()) {
    in.point_coords =
        transform_.apply_coords(batched(prompt.point_coords, 3), original_size_).to(device);
    in.point_labels = batched(prompt.point_labels, 2).to(device, torch::kLong);
  }
  if (prompt.box.defined())
    in.boxes = transform_.apply_boxes(batched(prompt.box, 2), original_size_).to(device);
  if (prompt.mask_input.defined())
    in.masks = batched(prompt.mask_input, 4).to(device, torch::kFloat);
  return predict_torch(in, multimask_output);
}

SamPrediction SamPredictor::predict_torch(const PromptInputs& prompt, bool multimask_output) {
  const auto& image_embeddings = features();
  torch::NoGradGuard no_grad;
  const auto embeddings = model_->prompt_encoder(prompt);
  const auto decoded = model_->mask_decoder(
      image_embeddings, model_->prompt_encoder->get_dense_pe(), embeddings.sparse, embeddings.dense,
      multimask_output, EmbeddingBatching::kShared);
  SamPrediction out;
  out.low_res_logits = decoded.masks;
  out.iou_predictions = decoded.iou_pred;
  out.logits = model_->postprocess_masks(decoded.masks, input_size_, original_size_);
  out.masks = out.logits > SamImpl::mask_threshold;
  return out;
}

}  // namespace psam::sam
