// UA-SAM's modules (Jiang et al., "Uncertainty-Aware Adapter"; SuperMedIntel/Uncertainty-Aware-
// Adapter, segment_anything/modeling/uncertainty_adapter.py and image_encoder.py) under the
// reference's names, so its checkpoints' weights load. Widths follow the encoder: C = ViT width,
// D = bottleneck (C * 0.25), M = condition length (the ViT depth), L = latent dimension,
// Q = prompt vector width (2 * prompt_embed_dim). GELU is the exact (erf) GELU.
//
// Unlike the reference, every sample is computed on its own: the condition is per sample (the
// reference takes the batch mean), the CMSM attention is an L x L matrix per sample (the
// reference sums over the batch) and no width contains the batch size (the reference's MLP1 is
// M -> B*L and MLP3 L -> M/B). At batch 1 both agree (the golden test).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <utility>

namespace psam::models {

// z [B,L] repeated over a token grid: [B,h,w,L].
torch::Tensor tile_over_grid(const torch::Tensor& z, int64_t h, int64_t w);

// `ConditionTransform` (`condition`): block 0's output [B,h,w,C] -> p_1 [B,M]: global average
// pool, Linear C->256, GELU, Linear 256->M, GELU (`condition.{2,4}`; 0, 1 are the pool and the
// flatten, which hold no weights).
class ConditionTransformImpl : public torch::nn::Module {
 public:
  ConditionTransformImpl(int64_t embed_dim, int64_t condition_dim);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential condition{nullptr};
};
TORCH_MODULE(ConditionTransform);

// What one CMSM step gives, with the intermediates the golden test checks.
struct CmsmOutput {
  torch::Tensor next_p;   // [B,M] the next position variant p_{i+1}
  torch::Tensor g;        // [B,h,w,D] the uncertainty feature
  torch::Tensor mlp1;     // [B,L] MLP1(p_i)
  torch::Tensor attn;     // [B,L,L] A, each row summing to 1
  torch::Tensor p_v;      // [B,L] v_p
  torch::Tensor mlp2_in;  // [B,h,w,L] z' * v_p tiled
};

// The Condition Modifies Sample Module (the reference's `PCAtten`): p' = MLP1(p_i); k = W11 p', v_p = GELU(W12 p'),
// q = W21 z, v_z = W22 z; per sample A = softmax_j(k_i q_j / sqrt(L)), z'_j = sum_i v_z,i A_ij;
// g = MLP2(tile(z' * v_p)); p_{i+1} = MLP3(v_p).
class CmsmImpl : public torch::nn::Module {
 public:
  CmsmImpl(int64_t condition_dim, int64_t latent_dim, int64_t bottleneck);
  // p_i [B,M], z [B,L], grid (h, w) of the tokens.
  CmsmOutput forward(const torch::Tensor& p_i, const torch::Tensor& z, int64_t h, int64_t w);

  torch::nn::Sequential MLP1{nullptr}, MLP2{nullptr}, MLP3{nullptr};
  torch::nn::Linear W11{nullptr}, W12{nullptr}, W21{nullptr}, W22{nullptr};

 private:
  int64_t latent_dim_;
};
TORCH_MODULE(Cmsm);

struct AdapterOutput {
  torch::Tensor out;  // [B,h,w,C] x + D_fc2(GELU(D_fc1 x) + f)
  CmsmOutput cmsm;
  torch::Tensor prompt_feat;  // [B,T,D] D_prompt(P)
  torch::Tensor fc2_in;       // [B,h,w,D]
};

// `UncertaintyAdapter` (`adapters.N`): xs = GELU(D_fc1 x) + sum_t D_prompt(P_t) * g, out =
// x + D_fc2(xs). D_prompt = LayerNorm(Q), Linear Q->128, GELU, Linear 128->D, GELU, Linear D->D,
// GELU.
class UncertaintyAdapterImpl : public torch::nn::Module {
 public:
  UncertaintyAdapterImpl(int64_t embed_dim, int64_t bottleneck, int64_t prompt_dim,
                         int64_t condition_dim, int64_t latent_dim);
  // x [B,h,w,C], p_i [B,M], z [B,L], P [B,T,Q].
  AdapterOutput forward(const torch::Tensor& x, const torch::Tensor& p_i, const torch::Tensor& z,
                        const torch::Tensor& P);

  torch::nn::Linear D_fc1{nullptr}, D_fc2{nullptr};
  torch::nn::Sequential D_prompt{nullptr};
  Cmsm PCAtten{nullptr};
};
TORCH_MODULE(UncertaintyAdapter);

// `res_MLP`: Linear L->D, GELU, Linear D->2D, GELU, Linear 2D->C, GELU (applied to z tiled over
// the grid and added to the last block's output).
torch::nn::Sequential make_res_mlp(int64_t latent_dim, int64_t bottleneck, int64_t embed_dim);

// The prompt vector P [B,T,2C] of sparse prompt embeddings [B,N,T,C] of N prompts per image:
// cat(max over N, mean over N) (the reference's order).
torch::Tensor prompt_vector(const torch::Tensor& sparse);

}  // namespace psam::models
