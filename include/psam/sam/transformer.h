// SAM's two-way transformer (official modeling/transformer.py): prompt tokens attend to image
// tokens and image tokens attend back, depth times, then a final token-to-image attention.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <utility>
#include <vector>

#include "psam/sam/common.h"
#include "psam/sam/dropout.h"

namespace psam::sam {

// Multi-head attention whose internal width is embedding_dim / downsample_rate.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t embedding_dim, int64_t num_heads, int64_t downsample_rate = 1);
  // q [B,Nq,C], k and v [B,Nk,C] -> [B,Nq,C].
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t num_heads_;
};
TORCH_MODULE(Attention);

class TwoWayAttentionBlockImpl : public torch::nn::Module {
 public:
  TwoWayAttentionBlockImpl(int64_t embedding_dim, int64_t num_heads, int64_t mlp_dim,
                           int64_t attention_downsample_rate, bool skip_first_layer_pe);
  // Returns the updated (queries, keys). dropout (MC-dropout SAM; null: none) applies to the
  // output of each attention and of the MLP before it joins the residual stream.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& queries,
                                                  const torch::Tensor& keys,
                                                  const torch::Tensor& query_pe,
                                                  const torch::Tensor& key_pe,
                                                  const Dropout* dropout = nullptr);

  Attention self_attn{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
  Attention cross_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  MLPBlock mlp{nullptr};
  torch::nn::LayerNorm norm3{nullptr};
  torch::nn::LayerNorm norm4{nullptr};
  Attention cross_attn_image_to_token{nullptr};

 private:
  bool skip_first_layer_pe_;
};
TORCH_MODULE(TwoWayAttentionBlock);

class TwoWayTransformerImpl : public torch::nn::Module {
 public:
  TwoWayTransformerImpl(int64_t depth, int64_t embedding_dim, int64_t num_heads, int64_t mlp_dim,
                        int64_t attention_downsample_rate = 2);
  // image_embedding and image_pe [B,C,h,w], point_embedding [B,T,C] ->
  // (processed tokens [B,T,C], processed image tokens [B,h*w,C]). dropout: as in the blocks,
  // also on the final attention's output.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& image_embedding,
                                                  const torch::Tensor& image_pe,
                                                  const torch::Tensor& point_embedding,
                                                  const Dropout* dropout = nullptr);
  // Activation checkpointing of each layer while training with autograd (a dropout's
  // generator is replayed in the recomputation).
  void set_activation_checkpointing(bool on) { checkpointing_ = on; }

  torch::nn::ModuleList layers{nullptr};
  Attention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};

 private:
  std::vector<TwoWayAttentionBlock> layer_list_;  // typed view of `layers`
  bool checkpointing_ = false;
};
TORCH_MODULE(TwoWayTransformer);

}  // namespace psam::sam
