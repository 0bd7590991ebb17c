// Which kernels compute softmax(q k^T * scale + mask) v in SAM's attention layers. `explicit`
// materialises the score matrix with matmul, add and softmax, as the official Python code does;
// `sdpa` calls at::scaled_dot_product_attention (libtorch >= 2.1), whose fused kernels never hold
// the full score matrix and make fewer passes over memory. The two agree to float rounding.
//
// A process-wide setting, like the thread count (the CLI's --attention, bench --attention): it
// is read at every forward, so one model can be measured on both paths.
#pragma once

#include <torch/types.h>

#include "psam/util/names.h"

namespace psam {

enum class AttentionPath { kAuto, kExplicit, kSdpa };  // kAuto: sdpa where the build has it

inline constexpr NameTable<AttentionPath, 3> kAttentionPathNames = {{
    {AttentionPath::kAuto, "auto"},
    {AttentionPath::kExplicit, "explicit"},
    {AttentionPath::kSdpa, "sdpa"},
}};
constexpr const auto& enum_names(AttentionPath) { return kAttentionPathNames; }

// Whether this build's libtorch has at::scaled_dot_product_attention.
bool sdpa_available();

// psam::Error for kSdpa on a build without it (naming the libtorch version).
void set_attention_path(AttentionPath path);
// The path in effect: kExplicit or kSdpa, never kAuto.
AttentionPath attention_path();

// Whether attention on q goes through fused_attention: the sdpa path, except on the meta device
// (shape-only tensors), where SDPA's fallback has no kernel; the explicit path gives the shapes.
bool use_fused_attention(const torch::Tensor& q);

// Restores the previous path when it goes out of scope (tests, benchmarks).
class ScopedAttentionPath {
 public:
  explicit ScopedAttentionPath(AttentionPath path) : previous_(attention_path()) {
    set_attention_path(path);
  }
  ~ScopedAttentionPath() { set_attention_path(previous_); }
  ScopedAttentionPath(const ScopedAttentionPath&) = delete;
  ScopedAttentionPath& operator=(const ScopedAttentionPath&) = delete;

 private:
  AttentionPath previous_;
};

// softmax(q k^T * scale + mask) v through at::scaled_dot_product_attention. q [..., Nq, d],
// k [..., Nk, d], v [..., Nk, dv]; mask: undefined (none) or additive, broadcastable to
// [..., Nq, Nk]. psam::Error on a build without SDPA.
torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& mask, double scale);

}  // namespace psam
