// The ViT image encoder of SAM (official modeling/image_encoder.py): patch embedding, absolute
// position embedding, transformer blocks with windowed or global attention and decomposed
// relative-position bias, and a convolutional neck to prompt_embed_dim channels.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <algorithm>
#include <array>
#include <functional>
#include <utility>
#include <vector>

#include "psam/sam/adapter.h"
#include "psam/sam/common.h"
#include "psam/sam/config.h"

namespace psam::sam {

// [B,H,W,C] -> windows [B*nH*nW, ws, ws, C], zero-padding H and W up to multiples of ws;
// also returns the padded size (Hp, Wp).
std::pair<torch::Tensor, std::array<int64_t, 2>> window_partition(const torch::Tensor& x,
                                                                  int64_t window_size);
// The inverse: windows -> [B,H,W,C] with the padding cropped away.
torch::Tensor window_unpartition(const torch::Tensor& windows, int64_t window_size,
                                 std::array<int64_t, 2> pad_hw, std::array<int64_t, 2> hw);
// Relative-position embeddings for every (query, key) pair along one axis: [q_size, k_size, C].
// rel_pos must already span 2 * max(q_size, k_size) - 1 positions.
torch::Tensor get_rel_pos(int64_t q_size, int64_t k_size, const torch::Tensor& rel_pos);
// Conv2d patchify: [B,C,H,W] -> [B,H/p,W/p,embed_dim] (channels last).
class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t patch_size, int64_t in_chans, int64_t embed_dim);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// Score-matrix elements one attention chunk may hold (64 MB in fp32: one head of a 64 x 64 global
// attention); see RelPosAttention. Smaller chunks cost speed on CPU (ViT-B at 1024, 2 threads:
// 8.6 s per image at 1/4 of this, 7.4 s here, 7.3 s unchunked; tools/bench/bench_encoder --chunk).
constexpr int64_t kDefaultAttentionChunkElements = int64_t{1} << 24;

// Multi-head self-attention over a [B,H,W,C] grid with relative-position bias (the official
// image_encoder.Attention). Query rows are independent, so the scores are computed in chunks
// of heads and query rows holding at most max_chunk_elements scores each: the same arithmetic
// per row as one [B*heads, N, N] matrix (3.2 GB for ViT-B's global attention at batch 4), but
// cache-sized and reusable by the allocator. On the sdpa attention path
// (psam/util/attention_path.h) the chunk's bias is SDPA's additive mask, the one score-sized
// tensor left.
class RelPosAttentionImpl : public torch::nn::Module {
 public:
  RelPosAttentionImpl(int64_t dim, int64_t num_heads, std::array<int64_t, 2> input_size);
  torch::Tensor forward(const torch::Tensor& x);
  void set_max_chunk_elements(int64_t n) { max_chunk_elements_ = std::max<int64_t>(n, 1); }
  // Activation checkpointing of each chunk (nested in the block's own): while the block is
  // recomputed in backward, its chunks' scores are not kept either, so backward holds one
  // chunk's scores at a time instead of the block's [B*heads, N, N].
  void set_checkpoint_chunks(bool on) { checkpoint_chunks_ = on; }

  torch::Tensor rel_pos_h, rel_pos_w;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t num_heads_;
  double scale_;
  int64_t max_chunk_elements_ = kDefaultAttentionChunkElements;
  bool checkpoint_chunks_ = false;
};
TORCH_MODULE(RelPosAttention);

// Pre-norm transformer block; window_size 0 means global attention.
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t dim, int64_t num_heads, double mlp_ratio, int64_t window_size,
            std::array<int64_t, 2> input_size);
  torch::Tensor forward(const torch::Tensor& x);

  // Med-SA's adapters (AdapterBlock): Space_Adapter (with skip) on the attention output, and
  // MLP_Adapter (no skip) parallel to the MLP, weighted by options.scale:
  //   x = x + Space_Adapter(attn(norm1(x)));  x = x + mlp(norm2(x)) + scale * MLP_Adapter(norm2(x))
  // Fresh weights (nn.Linear's initialisation, as Med-SA).
  void add_adapters(const AdapterOptions& options);
  bool has_adapters() const { return !Space_Adapter.is_empty(); }

  torch::nn::LayerNorm norm1{nullptr};
  RelPosAttention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  MLPBlock mlp{nullptr};
  Adapter Space_Adapter{nullptr}, MLP_Adapter{nullptr};  // null unless add_adapters

 private:
  int64_t window_size_;
  double adapter_scale_ = 0;
};
TORCH_MODULE(Block);

// Called after ViT block `index` (0-based) with its output x [B,h,w,C]; returns what the next
// block (after the last block: the neck) reads. Methods that put their own modules between the
// blocks (e.g. UA-SAM's adapters) pass one to ImageEncoderViT::forward.
using BlockHook = std::function<torch::Tensor(int64_t index, const torch::Tensor& x)>;

class ImageEncoderViTImpl : public torch::nn::Module {
 public:
  explicit ImageEncoderViTImpl(const SamConfig& config);
  // x: [B, in_chans, img_size, img_size], normalised and padded (Sam::preprocess) ->
  // [B, prompt_embed_dim, img_size/patch, img_size/patch]. after_block: see BlockHook.
  torch::Tensor forward(const torch::Tensor& x, const BlockHook& after_block = {});

  // Med-SA adapters in every block (BlockImpl::add_adapters); names
  // blocks.N.Space_Adapter.*, blocks.N.MLP_Adapter.*.
  void add_adapters(const AdapterOptions& options);

  int64_t img_size() const { return img_size_; }
  // Bounds the attention score chunks of every block (see RelPosAttention); results agree
  // to float rounding for any value.
  void set_attention_chunk_elements(int64_t n);
  // Activation checkpointing (psam/util/activation_checkpoint.h) of blocks i with
  // i % stride == 0 while training with autograd, their attention chunks nested; 0 = off.
  void set_activation_checkpointing(int64_t stride);

  PatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Sequential neck{nullptr};

 private:
  int64_t img_size_, in_chans_;
  int64_t checkpoint_stride_ = 0;
  std::vector<Block> block_list_;  // the same modules as `blocks`, typed for the forward loop
};
TORCH_MODULE(ImageEncoderViT);

}  // namespace psam::sam
