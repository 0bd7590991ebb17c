#include "psam/sam/transformer.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "psam/util/activation_checkpoint.h"
#include "psam/util/attention_path.h"

namespace psam::sam {
namespace {

torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}));  // eps 1e-5 as nn.LayerNorm
}

// [B,N,C] -> [B,heads,N,C/heads]
torch::Tensor separate_heads(const torch::Tensor& x, int64_t num_heads) {
  return x.reshape({x.size(0), x.size(1), num_heads, x.size(2) / num_heads}).transpose(1, 2);
}

// [B,heads,N,c] -> [B,N,heads*c]
torch::Tensor recombine_heads(const torch::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

}  // namespace

AttentionImpl::AttentionImpl(int64_t embedding_dim, int64_t num_heads, int64_t downsample_rate)
    : num_heads_(num_heads) {
  const int64_t internal_dim = embedding_dim / downsample_rate;
  q_proj = register_module("q_proj", torch::nn::Linear(embedding_dim, internal_dim));
  k_proj = register_module("k_proj", torch::nn::Linear(embedding_dim, internal_dim));
  v_proj = register_module("v_proj", torch::nn::Linear(embedding_dim, internal_dim));
  out_proj = register_module("out_proj", torch::nn::Linear(internal_dim, embedding_dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v) {
  const auto qh = separate_heads(q_proj(q), num_heads_);
  const auto kh = separate_heads(k_proj(k), num_heads_);
  const auto vh = separate_heads(v_proj(v), num_heads_);
  const double sqrt_c = std::sqrt(static_cast<double>(qh.size(3)));
  if (use_fused_attention(qh)) {
    // One side may be a single batch row broadcast over the other (MaskDecoder's shared image
    // side): SDPA gets both at the full batch, as views.
    const int64_t batch = std::max({qh.size(0), kh.size(0), vh.size(0)});
    const auto full = [batch](const torch::Tensor& t) { return t.expand({batch, -1, -1, -1}); };
    return out_proj(recombine_heads(fused_attention(full(qh), full(kh), full(vh), {}, 1.0 / sqrt_c)));
  }
  // The official order: the scores divided by sqrt(c).
  auto attn = qh.matmul(kh.permute({0, 1, 3, 2}));
  attn = attn / sqrt_c;
  attn = attn.softmax(-1);
  return out_proj(recombine_heads(attn.matmul(vh)));
}

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(int64_t embedding_dim, int64_t num_heads,
                                                   int64_t mlp_dim,
                                                   int64_t attention_downsample_rate,
                                                   bool skip_first_layer_pe)
    : skip_first_layer_pe_(skip_first_layer_pe) {
  self_attn = register_module("self_attn", Attention(embedding_dim, num_heads));
  norm1 = register_module("norm1", layer_norm(embedding_dim));
  cross_attn_token_to_image = register_module(
      "cross_attn_token_to_image", Attention(embedding_dim, num_heads, attention_downsample_rate));
  norm2 = register_module("norm2", layer_norm(embedding_dim));
  mlp = register_module("mlp", MLPBlock(embedding_dim, mlp_dim, Activation::kReLU));
  norm3 = register_module("norm3", layer_norm(embedding_dim));
  norm4 = register_module("norm4", layer_norm(embedding_dim));
  cross_attn_image_to_token = register_module(
      "cross_attn_image_to_token", Attention(embedding_dim, num_heads, attention_downsample_rate));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayAttentionBlockImpl::forward(
    const torch::Tensor& queries_in, const torch::Tensor& keys_in, const torch::Tensor& query_pe,
    const torch::Tensor& key_pe, const Dropout* dropout) {
  // Self-attention of the tokens; the first layer's tokens already are their own position
  // encoding, so it neither adds the encoding nor keeps a residual.
  torch::Tensor queries;
  if (skip_first_layer_pe_) {
    queries = maybe_dropout(dropout, self_attn(queries_in, queries_in, queries_in));
  } else {
    const auto q = queries_in + query_pe;
    queries = queries_in + maybe_dropout(dropout, self_attn(q, q, queries_in));
  }
  queries = norm1(queries);

  // Tokens attend to the image.
  auto q = queries + query_pe;
  auto k = keys_in + key_pe;
  queries = norm2(queries + maybe_dropout(dropout, cross_attn_token_to_image(q, k, keys_in)));

  queries = norm3(queries + maybe_dropout(dropout, mlp(queries)));

  // The image attends to the tokens.
  q = queries + query_pe;
  k = keys_in + key_pe;
  const auto keys =
      norm4(keys_in + maybe_dropout(dropout, cross_attn_image_to_token(k, q, queries)));
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(int64_t depth, int64_t embedding_dim,
                                             int64_t num_heads, int64_t mlp_dim,
                                             int64_t attention_downsample_rate) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    TwoWayAttentionBlock layer(embedding_dim, num_heads, mlp_dim, attention_downsample_rate,
                               /*skip_first_layer_pe=*/i == 0);
    layers->push_back(layer);
    layer_list_.push_back(layer);
  }
  final_attn_token_to_image = register_module(
      "final_attn_token_to_image", Attention(embedding_dim, num_heads, attention_downsample_rate));
  norm_final_attn = register_module("norm_final_attn", layer_norm(embedding_dim));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayTransformerImpl::forward(
    const torch::Tensor& image_embedding, const torch::Tensor& image_pe,
    const torch::Tensor& point_embedding, const Dropout* dropout) {
  // [B,C,h,w] -> [B,h*w,C]
  const auto image_tokens = image_embedding.flatten(2).permute({0, 2, 1});
  const auto image_pe_tokens = image_pe.flatten(2).permute({0, 2, 1});
  auto queries = point_embedding;
  auto keys = image_tokens;
  for (auto& layer : layer_list_) {
    if (!checkpointing_) {
      std::tie(queries, keys) =
          layer->forward(queries, keys, point_embedding, image_pe_tokens, dropout);
      continue;
    }
    std::vector<at::Generator> generators;
    if (dropout != nullptr && dropout->generator()) generators.push_back(*dropout->generator());
    // The recomputation runs in backward, after the caller's Dropout is gone: it keeps a copy.
    std::optional<Dropout> kept;
    if (dropout != nullptr) kept = *dropout;
    const auto out = checkpointed(
        *layer,
        [layer, kept](const std::vector<torch::Tensor>& in) mutable {
          auto [q, k] = layer->forward(in[0], in[1], in[2], in[3], kept ? &*kept : nullptr);
          return std::vector<torch::Tensor>{q, k};
        },
        {queries, keys, point_embedding, image_pe_tokens}, generators);
    queries = out[0];
    keys = out[1];
  }
  const auto q = queries + point_embedding;
  const auto k = keys + image_pe_tokens;
  queries =
      norm_final_attn(queries + maybe_dropout(dropout, final_attn_token_to_image(q, k, keys)));
  return {queries, keys};
}

}  // namespace psam::sam
