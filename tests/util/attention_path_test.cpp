// The attention-path switch, and the sdpa path against the explicit one: SAM's encoder (windowed
// blocks that need padding, global blocks in chunks) and two-way transformer give the same
// outputs and the same gradients on both.
#include "psam/util/attention_path.h"

#include <gtest/gtest.h>

#include "psam/sam/image_encoder.h"
#include "psam/sam/transformer.h"
#include "psam/util/error.h"
#include "support/golden.h"

namespace psam {
namespace {

TEST(AttentionPathSetting, AutoIsSdpaWhereTheBuildHasIt) {
  const ScopedAttentionPath keep(AttentionPath::kAuto);
  EXPECT_EQ(attention_path(), sdpa_available() ? AttentionPath::kSdpa : AttentionPath::kExplicit);
  {
    const ScopedAttentionPath use(AttentionPath::kExplicit);
    EXPECT_EQ(attention_path(), AttentionPath::kExplicit);
  }
  EXPECT_EQ(attention_path(), sdpa_available() ? AttentionPath::kSdpa : AttentionPath::kExplicit);
  if (!sdpa_available()) {
    EXPECT_THROW(set_attention_path(AttentionPath::kSdpa), Error);
    EXPECT_THROW(fused_attention(torch::zeros({1, 2, 4}), torch::zeros({1, 2, 4}),
                                 torch::zeros({1, 2, 4}), {}, 1.0),
                 Error);
  }
  EXPECT_EQ(value_of<AttentionPath>("sdpa", "--attention"), AttentionPath::kSdpa);
  EXPECT_THROW(value_of<AttentionPath>("flash", "--attention"), Error);
}

// Runs f on the explicit path, then on sdpa, and returns both results.
template <class F>
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> on_both_paths(F f) {
  std::vector<torch::Tensor> a, b;
  {
    const ScopedAttentionPath use(AttentionPath::kExplicit);
    a = f();
  }
  {
    const ScopedAttentionPath use(AttentionPath::kSdpa);
    b = f();
  }
  return {a, b};
}

// Output and every parameter's gradient of a scalar loss, in that order.
std::vector<torch::Tensor> output_and_grads(torch::nn::Module& m, const torch::Tensor& out) {
  for (auto& p : m.parameters()) p.mutable_grad() = torch::Tensor();
  (out * torch::linspace(-1, 1, out.numel()).view(out.sizes())).sum().backward();
  std::vector<torch::Tensor> r = {out.detach()};
  for (const auto& p : m.parameters()) r.push_back(p.grad().clone());
  return r;
}

void expect_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(support::tensors_close(what + (i == 0 ? " output" : " gradient " + std::to_string(i)),
                                       b[i], a[i], 1e-4));
}

sam::SamConfig small_encoder_config() {
  sam::SamConfig c;
  c.img_size = 176;  // an 11 x 11 grid: windows of 4 pad it to 12
  c.encoder_embed_dim = 48;
  c.encoder_depth = 3;
  c.encoder_num_heads = 3;
  c.window_size = 4;
  c.encoder_global_attn_indexes = {1};
  c.prompt_embed_dim = 32;
  return c;
}

TEST(SdpaPath, ImageEncoderMatchesExplicitInOutputAndGradients) {
  if (!sdpa_available()) GTEST_SKIP() << "this libtorch has no scaled_dot_product_attention";
  torch::manual_seed(3);
  sam::ImageEncoderViT encoder(small_encoder_config());
  for (auto& p : encoder->named_parameters()) {  // non-zero relative-position tables too
    torch::NoGradGuard no_grad;
    if (p.key().find("rel_pos") != std::string::npos) p.value().normal_(0, 0.3);
  }
  const auto x = torch::randn({2, 3, 176, 176});
  // Whole attention, then chunks of heads (1000) and of query rows of one head (50).
  for (int64_t budget : {sam::kDefaultAttentionChunkElements, int64_t{1000}, int64_t{50}}) {
    encoder->set_attention_chunk_elements(budget);
    const auto [a, b] = on_both_paths([&] { return output_and_grads(*encoder, encoder(x)); });
    expect_same(a, b, "encoder, chunks of " + std::to_string(budget));
    // Without autograd (where SDPA's fused kernel runs on the CPU).
    torch::NoGradGuard no_grad;
    const auto [c, d] = on_both_paths([&] { return std::vector<torch::Tensor>{encoder(x)}; });
    expect_same(c, d, "encoder without grad, chunks of " + std::to_string(budget));
  }
}

TEST(SdpaPath, TwoWayTransformerMatchesExplicitInOutputAndGradients) {
  if (!sdpa_available()) GTEST_SKIP() << "this libtorch has no scaled_dot_product_attention";
  torch::manual_seed(4);
  sam::TwoWayTransformer transformer(2, 32, 4, 64);
  const auto image = torch::randn({3, 32, 5, 7}), pe = torch::randn({3, 32, 5, 7});
  const auto tokens = torch::randn({3, 6, 32});
  const auto [a, b] = on_both_paths([&] {
    const auto [q, k] = transformer(image, pe, tokens);
    return output_and_grads(*transformer, torch::cat({q.flatten(), k.flatten()}));
  });
  expect_same(a, b, "two-way transformer");
}

}  // namespace
}  // namespace psam
