#include "psam/models/ua_sam/uncertainty_adapter.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "psam/util/error.h"

namespace psam::models {
namespace {

namespace nn = torch::nn;

// Linear layers each followed by GELU: widths[0] -> widths[1] -> ... (indices 0, 2, 4, ...).
nn::Sequential gelu_mlp(const std::vector<int64_t>& widths) {
  nn::Sequential seq;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    seq->push_back(nn::Linear(widths[i], widths[i + 1]));
    seq->push_back(nn::GELU());
  }
  return seq;
}

}  // namespace

torch::Tensor tile_over_grid(const torch::Tensor& z, int64_t h, int64_t w) {
  return z.unsqueeze(1).unsqueeze(1).expand({z.size(0), h, w, z.size(1)});
}

ConditionTransformImpl::ConditionTransformImpl(int64_t embed_dim, int64_t condition_dim) {
  condition = nn::Sequential(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(),
                             nn::Linear(embed_dim, 256), nn::GELU(),
                             nn::Linear(256, condition_dim), nn::GELU());
  register_module("condition", condition);
}

torch::Tensor ConditionTransformImpl::forward(const torch::Tensor& x) {
  return condition->forward(x.permute({0, 3, 1, 2}));
}

CmsmImpl::CmsmImpl(int64_t condition_dim, int64_t latent_dim, int64_t bottleneck)
    : latent_dim_(latent_dim) {
  const int64_t L = latent_dim;
  // The last GELU of MLP1 is the reference's too (Linear, GELU, Linear, GELU).
  MLP1 = register_module("MLP1", gelu_mlp({condition_dim, L, L}));
  W11 = register_module("W11", nn::Linear(L, L));
  W12 = register_module("W12", nn::Linear(L, L));
  W21 = register_module("W21", nn::Linear(L, L));
  W22 = register_module("W22", nn::Linear(L, L));
  MLP2 = register_module("MLP2", gelu_mlp({L, 64, 128, bottleneck}));
  MLP3 = register_module("MLP3", gelu_mlp({L, 2 * L, condition_dim}));
}

CmsmOutput CmsmImpl::forward(const torch::Tensor& p_i, const torch::Tensor& z, int64_t h,
                             int64_t w) {
  PSAM_CHECK(z.dim() == 2 && z.size(1) == latent_dim_ && p_i.dim() == 2 &&
                 p_i.size(0) == z.size(0),
             fmt::format("UA-SAM CMSM: expected p_i [B,M] and z [B,{}], got {} and {}",
                         latent_dim_, fmt::streamed(p_i.sizes()), fmt::streamed(z.sizes())));
  CmsmOutput out;
  out.mlp1 = MLP1->forward(p_i);
  const auto k = W11(out.mlp1);
  out.p_v = torch::gelu(W12(out.mlp1));
  const auto q = W21(z);
  const auto v_z = W22(z);
  // Per sample: the outer product k q^T [B,L,L], softmax along each row.
  out.attn = torch::softmax(k.unsqueeze(2) * q.unsqueeze(1) / std::sqrt(double(latent_dim_)), 2);
  const auto z_mod = torch::bmm(v_z.unsqueeze(1), out.attn).squeeze(1);
  out.mlp2_in = tile_over_grid(z_mod * out.p_v, h, w);
  out.g = MLP2->forward(out.mlp2_in);
  out.next_p = MLP3->forward(out.p_v);
  return out;
}

UncertaintyAdapterImpl::UncertaintyAdapterImpl(int64_t embed_dim, int64_t bottleneck,
                                               int64_t prompt_dim, int64_t condition_dim,
                                               int64_t latent_dim) {
  D_fc1 = register_module("D_fc1", nn::Linear(embed_dim, bottleneck));
  D_fc2 = register_module("D_fc2", nn::Linear(bottleneck, embed_dim));
  D_prompt = register_module(
      "D_prompt",
      nn::Sequential(nn::LayerNorm(nn::LayerNormOptions({prompt_dim})),
                     nn::Linear(prompt_dim, 128), nn::GELU(), nn::Linear(128, bottleneck),
                     nn::GELU(), nn::Linear(bottleneck, bottleneck), nn::GELU()));
  PCAtten = register_module("PCAtten", Cmsm(condition_dim, latent_dim, bottleneck));
}

AdapterOutput UncertaintyAdapterImpl::forward(const torch::Tensor& x, const torch::Tensor& p_i,
                                              const torch::Tensor& z, const torch::Tensor& P) {
  PSAM_CHECK(x.dim() == 4 && P.dim() == 3 && P.size(0) == x.size(0) && z.size(0) == x.size(0),
             fmt::format("UA-SAM adapter: expected x [B,h,w,C], z [B,L] and P [B,T,Q], got {}, "
                         "{} and {}",
                         fmt::streamed(x.sizes()), fmt::streamed(z.sizes()),
                         fmt::streamed(P.sizes())));
  AdapterOutput out;
  out.cmsm = PCAtten(p_i, z, x.size(1), x.size(2));
  out.prompt_feat = D_prompt->forward(P);
  // f = sum_t D_prompt(P_t) * g; g is the same at every token, so sum over t first.
  const auto f = out.prompt_feat.sum(1).unsqueeze(1).unsqueeze(1) * out.cmsm.g;
  out.fc2_in = torch::gelu(D_fc1(x)) + f;
  out.out = x + D_fc2(out.fc2_in);
  return out;
}

nn::Sequential make_res_mlp(int64_t latent_dim, int64_t bottleneck, int64_t embed_dim) {
  return gelu_mlp({latent_dim, bottleneck, 2 * bottleneck, embed_dim});
}

torch::Tensor prompt_vector(const torch::Tensor& sparse) {
  PSAM_CHECK(sparse.dim() == 4, fmt::format("UA-SAM: sparse prompts must be [B,N,T,C], got {}",
                                            fmt::streamed(sparse.sizes())));
  return torch::cat({std::get<0>(sparse.max(1)), sparse.mean(1)}, -1);
}

}  // namespace psam::models
