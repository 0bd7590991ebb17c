#include "psam/util/attention_path.h"

#include <atomic>

#include <fmt/format.h>

#include "psam/util/error.h"
#include "psam/util/torch_version.h"

#if PSAM_TORCH_HAS_SDPA
#include <ATen/ops/scaled_dot_product_attention.h>
#endif

namespace psam {
namespace {

std::atomic<AttentionPath> g_attention_path{AttentionPath::kAuto};

}  // namespace

bool sdpa_available() { return PSAM_TORCH_HAS_SDPA; }

void set_attention_path(AttentionPath path) {
  PSAM_CHECK(path != AttentionPath::kSdpa || sdpa_available(),
             fmt::format("attention path sdpa needs libtorch >= 2.1; this build has {} (use "
                         "explicit or auto)",
                         TORCH_VERSION));
  g_attention_path.store(path, std::memory_order_relaxed);
}

AttentionPath attention_path() {
  const auto path = g_attention_path.load(std::memory_order_relaxed);
  if (path != AttentionPath::kAuto) return path;
  return sdpa_available() ? AttentionPath::kSdpa : AttentionPath::kExplicit;
}

bool use_fused_attention(const torch::Tensor& q) {
  return attention_path() == AttentionPath::kSdpa && !q.is_meta();
}

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& mask, double scale) {
#if PSAM_TORCH_HAS_SDPA
  const c10::optional<at::Tensor> attn_mask =
      mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
  return at::scaled_dot_product_attention(q, k, v, attn_mask, /*dropout_p=*/0.0,
                                          /*is_causal=*/false, scale);
#else
  (void)q, (void)k, (void)v, (void)mask, (void)scale;
  fail(fmt::format("fused attention needs libtorch >= 2.1; this build has {}", TORCH_VERSION));
#endif
}

}  // namespace psam
