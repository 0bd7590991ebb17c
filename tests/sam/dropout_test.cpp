// The mask decoder's MC dropout (sam::Dropout): absent or at rate 0 it is the official decoder
// bit for bit; its masks are inverted Bernoulli masks; one batched call over n copies of a prompt
// equals n separate calls given the same masks row by row (no coupling between the copies).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "psam/prob/prob_sam.h"
#include "psam/sam/dropout.h"
#include "psam/util/error.h"
#include "support/tiny_prob_sam.h"

namespace psam {
namespace {

class DecoderDropout : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(4);
    const auto config = test::tiny_prob_sam_config("none");
    net_ = prob::ProbSam(config);
    net_->eval();
    const int64_t side = config.sam.image_embedding_size();
    embedding_ = torch::randn({1, config.sam.prompt_embed_dim, side, side});
    box_ = torch::tensor({{8.0f, 10.0f, 40.0f, 50.0f}});
    sites_ = config.sam.decoder_depth * 4 + 1 + (config.sam.num_multimask_outputs + 1) * 2;
  }

  // Logits of n copies of the box on the one embedding, in one call.
  at::Tensor decode(int64_t n, const sam::Dropout* dropout) {
    return net_->decode(embedding_, box_.expand({n, 4}), {}, sam::EmbeddingBatching::kShared,
                        dropout);
  }

  prob::ProbSam net_{nullptr};
  at::Tensor embedding_, box_;
  int64_t sites_ = 0;
};

TEST_F(DecoderDropout, RateZeroIsTheOfficialDecoder) {
  torch::NoGradGuard no_grad;
  const sam::Dropout off(0.0, at::make_generator<at::CPUGeneratorImpl>(1));
  EXPECT_TRUE(torch::equal(decode(3, &off), decode(3, nullptr)));
}

TEST_F(DecoderDropout, MasksAreInvertedBernoulli) {
  const sam::Dropout dropout(0.25, at::make_generator<at::CPUGeneratorImpl>(2));
  const auto y = dropout(torch::ones({400, 500}));
  const auto kept = y > 0;
  EXPECT_TRUE(torch::allclose(y.masked_select(kept), torch::full({1}, 1.0 / 0.75)));
  EXPECT_NEAR(kept.to(torch::kFloat).mean().item<double>(), 0.75, 0.005);
  EXPECT_THROW(sam::Dropout(1.0), Error);
  EXPECT_THROW(sam::Dropout(-0.1), Error);
}

TEST_F(DecoderDropout, BatchedCopiesEqualSeparateCallsWithTheSameMasks) {
  torch::NoGradGuard no_grad;
  const double rate = 0.3;
  const int64_t n = 4;
  auto drawn = std::make_shared<std::vector<at::Tensor>>();
  const auto g = at::make_generator<at::CPUGeneratorImpl>(9);
  const sam::Dropout recording(rate, [=](at::IntArrayRef shape, const at::TensorOptions& o) {
    drawn->push_back(at::empty(shape, o).bernoulli_(1 - rate, g));
    return drawn->back();
  });
  const auto batched = decode(n, &recording);
  // Every site of the transformer (3 attentions and the MLP per layer, the final attention)
  // and both hidden layers of every hypernetwork MLP; one mask row per copy.
  ASSERT_EQ(static_cast<int64_t>(drawn->size()), sites_);
  for (const auto& m : *drawn) EXPECT_EQ(m.size(0), n);

  for (int64_t i = 0; i < n; ++i) {
    size_t next = 0;
    const sam::Dropout replay(rate, [&](at::IntArrayRef shape, const at::TensorOptions&) {
      const auto row = (*drawn)[next++].slice(0, i, i + 1);
      EXPECT_EQ(row.sizes(), shape);
      return row;
    });
    const auto one = decode(1, &replay);
    EXPECT_EQ(next, drawn->size());
    EXPECT_TRUE(torch::allclose(batched.slice(0, i, i + 1), one, 1e-5, 1e-5)) << "copy " << i;
  }
  // The copies are different samples, and none is the deterministic decoding.
  EXPECT_FALSE(torch::allclose(batched[0], batched[1], 1e-3, 1e-3));
  EXPECT_FALSE(torch::allclose(batched[0], decode(1, nullptr)[0], 1e-3, 1e-3));
}

}  // namespace
}  // namespace psam
