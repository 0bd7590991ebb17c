#include "psam/sam/mask_decoder.h"

#include <fmt/ostream.h>

#include "psam/util/error.h"

namespace psam::sam {

MLPImpl::MLPImpl(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers,
                 bool sigmoid_output)
    : sigmoid_output_(sigmoid_output) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    torch::nn::Linear layer(i == 0 ? input_dim : hidden_dim,
                            i == num_layers - 1 ? output_dim : hidden_dim);
    layers->push_back(layer);
    layer_list_.push_back(layer);
  }
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, const Dropout* dropout) {
  auto h = x;
  for (size_t i = 0; i < layer_list_.size(); ++i) {
    h = layer_list_[i](h);
    if (i + 1 < layer_list_.size()) h = maybe_dropout(dropout, torch::relu(h));
  }
  return sigmoid_output_ ? torch::sigmoid(h) : h;
}

MaskDecoderImpl::MaskDecoderImpl(int64_t transformer_dim, TwoWayTransformer transformer_module,
                                 int64_t num_multimask_outputs, int64_t iou_head_depth,
                                 int64_t iou_head_hidden_dim)
    : transformer_dim_(transformer_dim), num_mask_tokens_(num_multimask_outputs + 1) {
  transformer = register_module("transformer", transformer_module);
  iou_token = register_module("iou_token", torch::nn::Embedding(1, transformer_dim));
  mask_tokens =
      register_module("mask_tokens", torch::nn::Embedding(num_mask_tokens_, transformer_dim));
  const int64_t c4 = transformer_dim / 4, c8 = transformer_dim / 8;
  auto up = [](int64_t in, int64_t out) {
    return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2));
  };
  output_upscaling = register_module(
      "output_upscaling", torch::nn::Sequential(up(transformer_dim, c4), LayerNorm2d(c4),
                                                torch::nn::GELU(), up(c4, c8), torch::nn::GELU()));
  output_hypernetworks_mlps = register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens_; ++i) {
    MLP mlp(transformer_dim, transformer_dim, c8, 3);
    output_hypernetworks_mlps->push_back(mlp);
    hypernetwork_list_.push_back(mlp);
  }
  iou_prediction_head =
      register_module("iou_prediction_head",
                      MLP(transformer_dim, iou_head_hidden_dim, num_mask_tokens_, iou_head_depth));
}

MaskDecoderOutput MaskDecoderImpl::forward(const torch::Tensor& image_embeddings,
                                           const torch::Tensor& image_pe,
                                           const torch::Tensor& sparse_prompt_embeddings,
                                           const torch::Tensor& dense_prompt_embeddings,
                                           bool multimask_output, EmbeddingBatching batching,
                                           const Dropout* dropout) {
  auto out = predict_masks(image_embeddings, image_pe, sparse_prompt_embeddings,
                           dense_prompt_embeddings, batching, dropout);
  const int64_t begin = multimask_output ? 1 : 0;
  const int64_t end = multimask_output ? num_mask_tokens_ : 1;
  return {out.masks.slice(1, begin, end), out.iou_pred.slice(1, begin, end), out.tokens};
}

MaskDecoderOutput MaskDecoderImpl::predict_masks(const torch::Tensor& image_embeddings,
                                                 const torch::Tensor& image_pe,
                                                 const torch::Tensor& sparse,
                                                 const torch::Tensor& dense,
                                                 EmbeddingBatching batching,
                                                 const Dropout* dropout) {
  PSAM_CHECK(sparse.dim() == 3 && sparse.size(2) == transformer_dim_,
             fmt::format("mask decoder: sparse prompt embeddings must be [B,T,{}], got {}",
                         transformer_dim_, fmt::streamed(sparse.sizes())));
  const int64_t B = sparse.size(0);
  PSAM_CHECK(image_embeddings.dim() == 4 && image_embeddings.size(1) == transformer_dim_,
             fmt::format("mask decoder: image embeddings must be [N,{},h,w], got {}",
                         transformer_dim_, fmt::streamed(image_embeddings.sizes())));
  const int64_t n_images = batching == EmbeddingBatching::kShared ? 1 : B;
  PSAM_CHECK(image_embeddings.size(0) == n_images,
             fmt::format("mask decoder: {} batching needs {} image embedding(s) for {} prompts, "
                         "got {}",
                         batching == EmbeddingBatching::kShared ? "shared" : "paired", n_images, B,
                         image_embeddings.size(0)));
  const auto grid = image_embeddings.sizes().slice(2);
  PSAM_CHECK(dense.dim() == 4 && dense.size(0) == B && dense.size(1) == transformer_dim_ &&
                 dense.sizes().slice(2) == grid,
             fmt::format("mask decoder: dense prompt embeddings must be [{},{},{},{}], got {}", B,
                         transformer_dim_, grid[0], grid[1], fmt::streamed(dense.sizes())));
  PSAM_CHECK(image_pe.dim() == 4 && image_pe.size(0) == 1 &&
                 image_pe.sizes().slice(1) == image_embeddings.sizes().slice(1),
             fmt::format("mask decoder: image_pe must be [1,{},{},{}], got {}", transformer_dim_,
                         grid[0], grid[1], fmt::streamed(image_pe.sizes())));

  auto output_tokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0);
  output_tokens = output_tokens.unsqueeze(0).expand({B, -1, -1});
  const auto tokens = torch::cat({output_tokens, sparse}, 1);

  // Shared: the one embedding is broadcast over the prompts (the official code copies it with
  // repeat_interleave; the sums are the same). Where the dense embeddings are one broadcast row
  // too (prompts without a mask: the no-mask embedding, expanded), the image side stays one
  // batch row into the transformer: its first layer's image-side projections then run once and
  // broadcast over the prompts (many latent codes of one image and box), with the same
  // arithmetic per prompt.
  const bool one_image_side = n_images == 1 && B > 1 && dense.stride(0) == 0;
  auto src = image_embeddings + (one_image_side ? dense.slice(0, 0, 1) : dense);
  const auto pos_src = image_pe.expand({src.size(0), -1, -1, -1});
  const int64_t c = src.size(1), h = src.size(2), w = src.size(3);

  auto [hs, src_tokens] = transformer->forward(src, pos_src, tokens, dropout);
  if (src_tokens.size(0) != B) src_tokens = src_tokens.expand({B, -1, -1});  // a depth-0 transformer
  const auto iou_token_out = hs.select(1, 0);
  const auto mask_tokens_out = hs.slice(1, 1, 1 + num_mask_tokens_);

  src = src_tokens.transpose(1, 2).reshape({B, c, h, w});
  const auto upscaled = output_upscaling->forward(src);
  std::vector<torch::Tensor> hyper_in_list;
  hyper_in_list.reserve(hypernetwork_list_.size());
  for (size_t i = 0; i < hypernetwork_list_.size(); ++i)
    hyper_in_list.push_back(hypernetwork_list_[i]->forward(
        mask_tokens_out.select(1, static_cast<int64_t>(i)), dropout));
  const auto hyper_in = torch::stack(hyper_in_list, 1);
  const int64_t uc = upscaled.size(1), uh = upscaled.size(2), uw = upscaled.size(3);
  const auto masks = hyper_in.matmul(upscaled.view({B, uc, uh * uw})).view({B, -1, uh, uw});
  return {masks, iou_prediction_head(iou_token_out), hs.slice(1, 0, 1 + num_mask_tokens_)};
}

}  // namespace psam::sam
