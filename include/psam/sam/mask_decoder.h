// SAM's mask decoder (official modeling/mask_decoder.py): output tokens (IoU token + mask
// tokens) and prompt tokens run through the two-way transformer; the image tokens are upscaled
// 4x and each mask token's hypernetwork MLP turns it into per-pixel mask weights.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "psam/sam/transformer.h"

namespace psam::sam {

// num_layers Linear layers with ReLU between them (official mask_decoder.MLP).
class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers,
          bool sigmoid_output = false);
  // dropout (MC-dropout SAM; null: none) applies to every hidden activation.
  torch::Tensor forward(const torch::Tensor& x, const Dropout* dropout = nullptr);

  torch::nn::ModuleList layers{nullptr};

 private:
  std::vector<torch::nn::Linear> layer_list_;  // typed view of `layers`
  bool sigmoid_output_;
};
TORCH_MODULE(MLP);

// How image embeddings pair with the prompts of one decoder call.
enum class EmbeddingBatching {
  // One image embedding [1,C,h,w] shared by every one of the B prompts (official SAM: one
  // image, many prompts; also N latent samples of one image in Probabilistic SAM).
  kShared,
  // B image embeddings [B,C,h,w] with B prompts, one to one (a training batch).
  kPaired,
};

struct MaskDecoderOutput {
  torch::Tensor masks;     // [B, M, 4h, 4w] low-resolution mask logits
  torch::Tensor iou_pred;  // [B, M]; M = num_multimask_outputs, or 1 without multimask output
  // [B, 1+T, C]: the two-way transformer's outputs of the IoU token and all T mask tokens
  // (official hs[:, 0] and hs[:, 1:1+T]), whatever masks were selected (USAM's heads read them).
  torch::Tensor tokens;
};

class MaskDecoderImpl : public torch::nn::Module {
 public:
  MaskDecoderImpl(int64_t transformer_dim, TwoWayTransformer transformer,
                  int64_t num_multimask_outputs = 3, int64_t iou_head_depth = 3,
                  int64_t iou_head_hidden_dim = 256);

  // image_pe [1,C,h,w] (PromptEncoder::get_dense_pe), sparse [B,T,C], dense [B,C,h,w].
  // multimask_output picks masks 1..M (the ambiguity-aware outputs) instead of mask 0.
  // dropout (MC-dropout SAM; null: none, the official decoder) applies in the two-way
  // transformer (attention and MLP outputs) and the output hypernetwork MLPs.
  MaskDecoderOutput forward(const torch::Tensor& image_embeddings, const torch::Tensor& image_pe,
                            const torch::Tensor& sparse_prompt_embeddings,
                            const torch::Tensor& dense_prompt_embeddings, bool multimask_output,
                            EmbeddingBatching batching = EmbeddingBatching::kShared,
                            const Dropout* dropout = nullptr);
  // Every mask and IoU prediction (mask token 0 first), before the multimask selection.
  MaskDecoderOutput predict_masks(const torch::Tensor& image_embeddings,
                                  const torch::Tensor& image_pe,
                                  const torch::Tensor& sparse_prompt_embeddings,
                                  const torch::Tensor& dense_prompt_embeddings,
                                  EmbeddingBatching batching, const Dropout* dropout = nullptr);

  int64_t num_mask_tokens() const { return num_mask_tokens_; }

  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr};
  torch::nn::Embedding mask_tokens{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  MLP iou_prediction_head{nullptr};

 private:
  int64_t transformer_dim_, num_mask_tokens_;
  std::vector<MLP> hypernetwork_list_;  // typed view of output_hypernetworks_mlps
};
TORCH_MODULE(MaskDecoder);

}  // namespace psam::sam
