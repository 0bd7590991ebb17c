// Med-SA adapters in the ViT blocks and the after-block hook of the image encoder: the adapter
// formula, Med-SA's names, the block with zero up-projections equal to the plain block, and the
// hook's view of every block output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/io/state_dict.h"
#include "psam/sam/adapter.h"
#include "psam/sam/image_encoder.h"
#include "support/tiny_prob_sam.h"

namespace psam {
namespace {

at::Tensor exact_gelu(const at::Tensor& x) {
  return 0.5 * x * (1 + torch::erf(x / std::sqrt(2.0)));
}

TEST(SamAdapter, IsTheMedSaBottleneck) {
  torch::manual_seed(1);
  sam::Adapter skip(16, 0.25, true), no_skip(16, 0.25, false);
  EXPECT_EQ(skip->D_fc1->weight.sizes(), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(skip->D_fc2->weight.sizes(), (std::vector<int64_t>{16, 4}));
  const auto x = torch::randn({2, 3, 5, 16});
  const auto branch = [](sam::Adapter& a, const at::Tensor& t) {
    return torch::linear(exact_gelu(torch::linear(t, a->D_fc1->weight, a->D_fc1->bias)),
                         a->D_fc2->weight, a->D_fc2->bias);
  };
  EXPECT_TRUE(torch::allclose(skip(x), x + branch(skip, x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(no_skip(x), branch(no_skip, x), 1e-5, 1e-6));
}

class EncoderAdapters : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(2);
    config_ = test::tiny_prob_sam_config("none").sam;
    config_.img_size = 48;  // a 6 x 6 grid: 4 x 4 windows need padding
    config_.patch_size = 8;
    config_.window_size = 4;
    config_.encoder_depth = 2;
    config_.encoder_global_attn_indexes = {1};
    encoder_ = sam::ImageEncoderViT(config_);
    encoder_->eval();
    x_ = torch::randn({2, 3, 48, 48});
  }
  sam::SamConfig config_;
  sam::ImageEncoderViT encoder_{nullptr};
  at::Tensor x_;
};

TEST_F(EncoderAdapters, MedSaNamesInEveryBlock) {
  const auto before = io::state_dict(*encoder_);
  encoder_->add_adapters({0.25, 0.5});
  const auto after = io::state_dict(*encoder_);
  EXPECT_EQ(after.size(), before.size() + 2 * 2 * 4);
  for (int b = 0; b < 2; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    EXPECT_EQ(after.at(p + "Space_Adapter.D_fc1.weight").sizes(), (std::vector<int64_t>{8, 32}));
    EXPECT_EQ(after.at(p + "MLP_Adapter.D_fc2.bias").sizes(), (std::vector<int64_t>{32}));
  }
  EXPECT_THROW(encoder_->add_adapters({0.25, 0.5}), Error);
}

// x + Space_Adapter(attn(norm1 x)) (windowed, padded), then + mlp(norm2) + scale * MLP_Adapter.
TEST_F(EncoderAdapters, BlockFollowsTheAdapterBlock) {
  torch::NoGradGuard no_grad;
  encoder_->add_adapters({0.25, 0.5});
  auto& block = *encoder_->blocks->ptr<sam::BlockImpl>(0);
  const auto x = torch::randn({2, 6, 6, 32});
  auto [windows, pad_hw] = sam::window_partition(block.norm1(x), 4);
  const auto attended = sam::window_unpartition(block.attn(windows), 4, pad_hw, {6, 6});
  // The adapter acts per token, so before or after un-partitioning is the same.
  const auto h = x + block.Space_Adapter(attended);
  const auto xn = block.norm2(h);
  const auto expected = h + block.mlp(xn) + 0.5 * block.MLP_Adapter(xn);
  EXPECT_TRUE(torch::allclose(block.forward(x), expected, 1e-5, 1e-5));
}

TEST_F(EncoderAdapters, ZeroUpProjectionsAreThePlainEncoder) {
  torch::NoGradGuard no_grad;
  const auto plain = encoder_(x_);
  encoder_->add_adapters({0.25, 0.5});
  for (auto& p : encoder_->named_parameters())
    if (p.key().find("D_fc2") != std::string::npos) p.value().zero_();
  EXPECT_TRUE(torch::equal(encoder_(x_), plain));
}

TEST_F(EncoderAdapters, HookSeesEveryBlockOutput) {
  torch::NoGradGuard no_grad;
  const auto plain = encoder_(x_);
  std::vector<int64_t> seen;
  const auto identity = encoder_->forward(x_, [&](int64_t i, const at::Tensor& h) {
    seen.push_back(i);
    EXPECT_EQ(h.sizes(), (std::vector<int64_t>{2, 6, 6, 32}));
    return h;
  });
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(torch::equal(identity, plain));
  // What the hook returns after the last block is what the neck reads.
  const auto zeros = torch::zeros({2, 6, 6, 32});
  const auto replaced =
      encoder_->forward(x_, [&](int64_t i, const at::Tensor& h) { return i == 1 ? zeros : h; });
  EXPECT_TRUE(torch::equal(replaced, encoder_->neck->forward(zeros.permute({0, 3, 1, 2}))));
}

}  // namespace
}  // namespace psam
