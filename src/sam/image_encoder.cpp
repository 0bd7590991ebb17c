#include "psam/sam/image_encoder.h"

#include <algorithm>

#include <fmt/ostream.h>

#include "psam/util/activation_checkpoint.h"
#include "psam/util/attention_path.h"
#include "psam/util/error.h"

namespace psam::sam {

std::pair<torch::Tensor, std::array<int64_t, 2>> window_partition(const torch::Tensor& x,
                                                                  int64_t window_size) {
  const int64_t ws = window_size;
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  auto padded =
      (pad_h > 0 || pad_w > 0) ? torch::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h}, 0) : x;
  const int64_t Hp = H + pad_h, Wp = W + pad_w;
  auto windows = padded.view({B, Hp / ws, ws, Wp / ws, ws, C})
                     .permute({0, 1, 3, 2, 4, 5})
                     .contiguous()
                     .view({-1, ws, ws, C});
  return {windows, {Hp, Wp}};
}

torch::Tensor window_unpartition(const torch::Tensor& windows, int64_t window_size,
                                 std::array<int64_t, 2> pad_hw, std::array<int64_t, 2> hw) {
  const int64_t ws = window_size;
  const auto [Hp, Wp] = pad_hw;
  const auto [H, W] = hw;
  const int64_t B = windows.size(0) / (Hp * Wp / ws / ws);
  auto x = windows.view({B, Hp / ws, Wp / ws, ws, ws, -1})
               .permute({0, 1, 3, 2, 4, 5})
               .contiguous()
               .view({B, Hp, Wp, -1});
  if (Hp > H || Wp > W) x = x.slice(1, 0, H).slice(2, 0, W).contiguous();
  return x;
}

torch::Tensor get_rel_pos(int64_t q_size, int64_t k_size, const torch::Tensor& rel_pos) {
  const int64_t max_rel_dist = 2 * std::max(q_size, k_size) - 1;
  PSAM_CHECK(rel_pos.size(0) == max_rel_dist,
             fmt::format("relative-position table spans {} positions, expected {} for a {}x{} "
                         "attention grid",
                         rel_pos.size(0), max_rel_dist, q_size, k_size));
  const double q_scale = std::max(static_cast<double>(k_size) / q_size, 1.0);
  const double k_scale = std::max(static_cast<double>(q_size) / k_size, 1.0);
  const auto opts = torch::TensorOptions().device(rel_pos.device());
  const auto q_coords = torch::arange(q_size, opts.dtype(torch::kLong)).unsqueeze(1) * q_scale;
  const auto k_coords = torch::arange(k_size, opts.dtype(torch::kLong)).unsqueeze(0) * k_scale;
  const auto relative = (q_coords - k_coords) + (k_size - 1) * k_scale;
  return rel_pos.index({relative.to(torch::kLong)});
}

namespace {

// The decomposed relative-position terms with the tables already gathered, Rh [q_h, k_h, C] and
// Rw [q_w, k_w, C], for the q_h x q_w query positions of q [B, q_h*q_w, C]:
// rel_h [B, q_h, q_w, k_h] and rel_w [B, q_h, q_w, k_w].
std::pair<torch::Tensor, torch::Tensor> rel_pos_terms(const torch::Tensor& q,
                                                      const torch::Tensor& Rh,
                                                      const torch::Tensor& Rw,
                                                      std::array<int64_t, 2> q_size) {
  const auto r_q = q.reshape({q.size(0), q_size[0], q_size[1], q.size(2)});
  return {torch::einsum("bhwc,hkc->bhwk", {r_q, Rh}), torch::einsum("bhwc,wkc->bhwk", {r_q, Rw})};
}

// The official arithmetic: scores, the two bias terms added in the official order, softmax.
torch::Tensor explicit_rel_pos_attention(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v, const torch::Tensor& Rh,
                                         const torch::Tensor& Rw, double scale,
                                         std::array<int64_t, 2> q_size,
                                         std::array<int64_t, 2> k_size) {
  auto attn = (q * scale).matmul(k.transpose(-2, -1));
  const auto [rel_h, rel_w] = rel_pos_terms(q, Rh, Rw, q_size);
  // In place: the same two additions, in the same order, as the official out-of-place
  // expression, without two more score-sized temporaries.
  attn.view({q.size(0), q_size[0], q_size[1], k_size[0], k_size[1]})
      .add_(rel_h.unsqueeze(4))
      .add_(rel_w.unsqueeze(3));
  return attn.softmax(-1).matmul(v);
}

// The same through SDPA: the bias becomes the additive mask (the only score-sized tensor left;
// the fused kernel keeps its scores in cache-sized blocks).
torch::Tensor sdpa_rel_pos_attention(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& Rh,
                                     const torch::Tensor& Rw, double scale,
                                     std::array<int64_t, 2> q_size,
                                     std::array<int64_t, 2> k_size) {
  const auto [rel_h, rel_w] = rel_pos_terms(q, Rh, Rw, q_size);
  const int64_t B = q.size(0), Nq = q.size(1), Nk = k_size[0] * k_size[1];
  // Written contiguous (a broadcast sum may come out in another stride order), then viewed.
  auto mask = rel_h.unsqueeze(4)
                  .expand({B, q_size[0], q_size[1], k_size[0], k_size[1]})
                  .clone(at::MemoryFormat::Contiguous);
  mask.add_(rel_w.unsqueeze(3));
  return fused_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), mask.view({1, B, Nq, Nk}),
                         scale)
      .squeeze(0);
}

}  // namespace

PatchEmbedImpl::PatchEmbedImpl(int64_t patch_size, int64_t in_chans, int64_t embed_dim) {
  proj = register_module(
      "proj", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(in_chans, embed_dim, patch_size).stride(patch_size)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  return proj(x).permute({0, 2, 3, 1});
}

RelPosAttentionImpl::RelPosAttentionImpl(int64_t dim, int64_t num_heads,
                                         std::array<int64_t, 2> input_size)
    : num_heads_(num_heads) {
  const int64_t head_dim = dim / num_heads;
  scale_ = 1.0 / std::sqrt(static_cast<double>(head_dim));
  qkv = register_module("qkv", torch::nn::Linear(dim, dim * 3));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  rel_pos_h = register_parameter("rel_pos_h", torch::zeros({2 * input_size[0] - 1, head_dim}));
  rel_pos_w = register_parameter("rel_pos_w", torch::zeros({2 * input_size[1] - 1, head_dim}));
}

torch::Tensor RelPosAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  const int64_t BH = B * num_heads_, N = H * W;
  const auto qkv_all =
      qkv(x).reshape({B, N, 3, num_heads_, -1}).permute({2, 0, 3, 1, 4}).reshape({3, BH, N, -1});
  const auto parts = qkv_all.unbind(0);
  const auto &q = parts[0], &k = parts[1], &v = parts[2];
  const bool fused = use_fused_attention(q);
  const auto Rh = get_rel_pos(H, H, rel_pos_h), Rw = get_rel_pos(W, W, rel_pos_w);

  // Chunks: whole heads while a head's scores fit the budget, else rows of one head.
  const int64_t row_scores = W * N;  // one row of query positions against every key
  int64_t heads_per_chunk = BH, rows_per_chunk = H;
  if (BH * H * row_scores > max_chunk_elements_) {
    if (H * row_scores <= max_chunk_elements_) {
      heads_per_chunk = max_chunk_elements_ / (H * row_scores);
    } else {
      heads_per_chunk = 1;
      rows_per_chunk = std::max<int64_t>(1, max_chunk_elements_ / row_scores);
    }
  }
  // One chunk's result is the output. Several are copied into one output tensor: kept as small
  // separate tensors between the score-sized temporaries, they would split the heap's free space,
  // which then grows by a chunk's scores every other chunk (glibc: +0.9 GB in ViT-B's first global
  // block at 1024 px).
  const bool several = heads_per_chunk < BH || rows_per_chunk < H;
  torch::Tensor out;
  for (int64_t b0 = 0; b0 < BH; b0 += heads_per_chunk) {
    const int64_t b1 = std::min(BH, b0 + heads_per_chunk);
    for (int64_t h0 = 0; h0 < H; h0 += rows_per_chunk) {
      const int64_t h1 = std::min(H, h0 + rows_per_chunk);
      const auto chunk = [this, h0, h1, H, W, fused](const std::vector<torch::Tensor>& in) {
        const auto attend = fused ? sdpa_rel_pos_attention : explicit_rel_pos_attention;
        return std::vector<torch::Tensor>{
            attend(in[0], in[1], in[2], in[3], in[4], scale_, {h1 - h0, W}, {H, W})};
      };
      const std::vector<torch::Tensor> inputs = {q.slice(0, b0, b1).slice(1, h0 * W, h1 * W),
                                                 k.slice(0, b0, b1), v.slice(0, b0, b1),
                                                 Rh.slice(0, h0, h1), Rw};
      // Only where the scores come in several chunks (global attention) does keeping one at a
      // time save anything.
      const auto result =
          checkpoint_chunks_ && several ? checkpointed(*this, chunk, inputs)[0] : chunk(inputs)[0];
      if (!several) {
        out = result;
        continue;
      }
      // (the result's dtype, not q's: autocast may have changed it)
      if (!out.defined()) out = torch::empty({BH, N, result.size(2)}, result.options());
      out.slice(0, b0, b1).slice(1, h0 * W, h1 * W).copy_(result);
    }
  }
  return proj(out.view({B, num_heads_, H, W, -1}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, -1}));
}

BlockImpl::BlockImpl(int64_t dim, int64_t num_heads, double mlp_ratio, int64_t window_size,
                     std::array<int64_t, 2> input_size)
    : window_size_(window_size) {
  const auto ln = torch::nn::LayerNormOptions({dim}).eps(1e-6);
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  attn = register_module(
      "attn", RelPosAttention(dim, num_heads,
                              window_size == 0 ? input_size
                                               : std::array<int64_t, 2>{window_size, window_size}));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp",
                        MLPBlock(dim, static_cast<int64_t>(dim * mlp_ratio), Activation::kGELU));
}

void BlockImpl::add_adapters(const AdapterOptions& options) {
  PSAM_CHECK(!has_adapters(), "ViT block: adapters added twice");
  const int64_t dim = norm1->options.normalized_shape()[0];
  Space_Adapter = register_module("Space_Adapter", Adapter(dim, options.mlp_ratio, true));
  MLP_Adapter = register_module("MLP_Adapter", Adapter(dim, options.mlp_ratio, false));
  adapter_scale_ = options.scale;
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto h = norm1(x);
  // The attention adapter acts on each token alone, so it may run on the windows (as Med-SA).
  const auto attend = [&](const torch::Tensor& t) {
    return has_adapters() ? Space_Adapter(attn(t)) : attn(t);
  };
  if (window_size_ > 0) {
    const std::array<int64_t, 2> hw{h.size(1), h.size(2)};
    auto [windows, pad_hw] = window_partition(h, window_size_);
    h = window_unpartition(attend(windows), window_size_, pad_hw, hw);
  } else {
    h = attend(h);
  }
  auto out = x + h;
  if (!has_adapters()) return out + mlp(norm2(out));
  const auto xn = norm2(out);
  return out + mlp(xn) + adapter_scale_ * MLP_Adapter(xn);
}

ImageEncoderViTImpl::ImageEncoderViTImpl(const SamConfig& config)
    : img_size_(config.img_size), in_chans_(config.in_chans) {
  config.validate();
  const int64_t dim = config.encoder_embed_dim, grid = config.image_embedding_size();
  patch_embed = register_module("patch_embed", PatchEmbed(config.patch_size, config.in_chans, dim));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid, grid, dim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  const auto& global = config.encoder_global_attn_indexes;
  for (int64_t i = 0; i < config.encoder_depth; ++i) {
    const bool is_global = std::find(global.begin(), global.end(), i) != global.end();
    Block block(dim, config.encoder_num_heads, config.mlp_ratio, is_global ? 0 : config.window_size,
                std::array<int64_t, 2>{grid, grid});
    blocks->push_back(block);
    block_list_.push_back(block);
  }
  const int64_t out = config.prompt_embed_dim;
  neck = register_module(
      "neck",
      torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, out, 1).bias(false)), LayerNorm2d(out),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)),
          LayerNorm2d(out)));
}

void ImageEncoderViTImpl::add_adapters(const AdapterOptions& options) {
  for (auto& block : block_list_) block->add_adapters(options);
}

void ImageEncoderViTImpl::set_activation_checkpointing(int64_t stride) {
  checkpoint_stride_ = stride;
  for (size_t i = 0; i < block_list_.size(); ++i) {
    block_list_[i]->attn->set_checkpoint_chunks(stride > 0 &&
                                                static_cast<int64_t>(i) % stride == 0);
  }
}

void ImageEncoderViTImpl::set_attention_chunk_elements(int64_t n) {
  for (auto& block : block_list_) block->attn->set_max_chunk_elements(n);
}

torch::Tensor ImageEncoderViTImpl::forward(const torch::Tensor& x, const BlockHook& after_block) {
  PSAM_CHECK(
      x.dim() == 4 && x.size(1) == in_chans_ && x.size(2) == img_size_ && x.size(3) == img_size_,
      fmt::format("image encoder: expected input [B, {}, {}, {}], got {}", in_chans_, img_size_,
                  img_size_, fmt::streamed(x.sizes())));
  auto h = patch_embed(x) + pos_embed;
  for (size_t i = 0; i < block_list_.size(); ++i) {
    Block& block = block_list_[i];
    if (checkpoint_stride_ > 0 && static_cast<int64_t>(i) % checkpoint_stride_ == 0) {
      h = checkpointed(*block, [block](const std::vector<torch::Tensor>& in) mutable {
            return std::vector<torch::Tensor>{block->forward(in[0])};
          }, {h})[0];
    } else {
      h = block(h);
    }
    if (after_block) h = after_block(static_cast<int64_t>(i), h);
  }
  return neck->forward(h.permute({0, 3, 1, 2}));
}

}  // namespace psam::sam
