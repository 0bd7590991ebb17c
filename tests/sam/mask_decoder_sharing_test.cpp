// MaskDecoder with many prompts on one image and box (Probabilistic SAM's latent codes): the
// image side of the transformer's first layer runs once and broadcasts. Each prompt's masks and
// scores equal those of the per-prompt computation (dense embeddings made contiguous, so no row
// is shared) and of decoding that prompt alone, on every attention path, gradients included.
#include <gtest/gtest.h>

#include "psam/sam/sam.h"
#include "support/attention_paths.h"
#include "support/golden.h"

namespace psam {
namespace {

class MaskDecoderSharing : public support::AttentionPathTest {
 protected:
  void SetUp() override { use_attention_path(); }
};

sam::Sam decoder_test_sam() {
  sam::SamConfig c;
  c.img_size = 64;
  c.encoder_embed_dim = 16;
  c.encoder_depth = 1;
  c.encoder_num_heads = 2;
  c.window_size = 2;
  c.encoder_global_attn_indexes = {0};
  c.prompt_embed_dim = 32;
  c.decoder_num_heads = 4;
  c.decoder_mlp_dim = 64;
  c.iou_head_hidden_dim = 16;
  c.mask_in_chans = 4;
  torch::manual_seed(11);
  auto model = sam::build_sam(c);
  torch::NoGradGuard no_grad;
  for (auto& p : model->mask_decoder->parameters()) p.normal_(0, 0.2);  // no trivial norms
  return model;
}

TEST_P(MaskDecoderSharing, ManyPromptsOnOneImageEqualEachPromptAlone) {
  auto model = decoder_test_sam();
  const int64_t n = 6;
  sam::PromptInputs prompt;
  prompt.boxes = torch::tensor({{10.f, 12.f, 40.f, 50.f}}).expand({n, 4});
  const auto pe = model->prompt_encoder(prompt);
  ASSERT_EQ(pe.dense.stride(0), 0) << "box prompts give the broadcast no-mask embedding";
  // Per-prompt sparse tokens, as Probabilistic SAM's projected codes make them.
  const auto sparse = (pe.sparse + 0.5 * torch::randn({n, 1, 32})).detach().requires_grad_();
  const auto embedding = torch::randn({1, 32, 4, 4});
  const auto dense_pe = model->prompt_encoder->get_dense_pe();
  const auto decode = [&](const torch::Tensor& s, const torch::Tensor& dense) {
    return model->mask_decoder(embedding, dense_pe, s, dense, /*multimask_output=*/true,
                               sam::EmbeddingBatching::kShared);
  };
  const auto shared = decode(sparse, pe.dense);
  const auto unshared = decode(sparse, pe.dense.contiguous());
  EXPECT_TRUE(support::tensors_close("masks", shared.masks, unshared.masks, 1e-5));
  EXPECT_TRUE(support::tensors_close("iou", shared.iou_pred, unshared.iou_pred, 1e-5));
  for (int64_t i = 0; i < n; ++i) {
    const auto alone = decode(sparse.slice(0, i, i + 1), pe.dense.slice(0, i, i + 1));
    EXPECT_TRUE(support::tensors_close("prompt " + std::to_string(i) + " alone",
                                       shared.masks.slice(0, i, i + 1), alone.masks, 1e-5));
  }
  // Gradients reach every prompt's tokens and the weights alike.
  const auto weights = torch::linspace(-1, 1, shared.masks.numel()).view(shared.masks.sizes());
  const auto grads = [&](const sam::MaskDecoderOutput& out) {
    model->mask_decoder->zero_grad();
    if (sparse.grad().defined()) sparse.mutable_grad().zero_();
    (out.masks * weights).sum().backward();
    std::vector<torch::Tensor> g = {sparse.grad().clone()};
    for (const auto& p : model->mask_decoder->parameters())
      if (p.grad().defined()) g.push_back(p.grad().clone());
    return g;
  };
  const auto a = grads(shared), b = grads(unshared);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(support::tensors_close("gradient " + std::to_string(i), a[i], b[i], 1e-4));
}

INSTANTIATE_TEST_SUITE_P(Attention, MaskDecoderSharing,
                         ::testing::ValuesIn(support::attention_paths()),
                         support::AttentionPathName());

}  // namespace
}  // namespace psam
