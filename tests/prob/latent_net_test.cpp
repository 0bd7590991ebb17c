#include "psam/prob/latent_net.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "psam/prob/axis_aligned_latent_net.h"
#include "psam/prob/conv_pool_latent_net.h"
#include "psam/util/error.h"

namespace {

using psam::prob::LatentInputs;
using psam::prob::LatentNetKind;
using psam::prob::LatentNetOptions;
using psam::prob::make_latent_net;

// name -> shape, in registration order.
std::vector<std::pair<std::string, std::vector<int64_t>>> shapes(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().sizes().vec());
  return out;
}

LatentNetOptions options(LatentNetKind kind, bool posterior, int64_t in_channels = 3) {
  LatentNetOptions o;
  o.kind = kind;
  o.posterior = posterior;
  o.in_channels = in_channels;
  return o;
}

TEST(LatentNet, ReferenceHasTheReferenceModuleNames) {
  const auto prior = make_latent_net(options(LatentNetKind::kReference, false));
  const auto post = make_latent_net(options(LatentNetKind::kReference, true));
  using S = std::vector<std::pair<std::string, std::vector<int64_t>>>;
  EXPECT_EQ(shapes(*prior), (S{{"encoder.0.weight", {32, 3, 3, 3}},
                               {"encoder.0.bias", {32}},
                               {"encoder.2.weight", {64, 32, 3, 3}},
                               {"encoder.2.bias", {64}},
                               {"fc_mu.weight", {6, 64}},
                               {"fc_mu.bias", {6}},
                               {"fc_log_sigma.weight", {6, 64}},
                               {"fc_log_sigma.bias", {6}}}));
  EXPECT_EQ(shapes(*post)[0], (S::value_type{"encoder.0.weight", {32, 4, 3, 3}}));
}

TEST(LatentNet, EmbeddingNetReadsTheEmbeddingWidth) {
  auto o = options(LatentNetKind::kEmbedding, true, 32);
  o.hidden_channels = 16;
  const auto net = make_latent_net(o);
  const auto s = shapes(*net);
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s[0],
            (std::pair<std::string, std::vector<int64_t>>{"encoder.0.weight", {16, 33, 1, 1}}));
  EXPECT_EQ(s[2].second, (std::vector<int64_t>{16, 16, 3, 3}));
  EXPECT_EQ(s[4].first, "fc_mu.weight");

  // It ignores the pixels and reads the embedding (and the mask, on the embedding grid).
  LatentInputs x;
  x.image_embedding = torch::randn({2, 32, 8, 8});
  const auto mask = (torch::rand({2, 1, 32, 32}) > 0.5).to(torch::kFloat);
  const auto q = net->forward(x, mask);
  EXPECT_EQ(q.mu().sizes(), torch::IntArrayRef({2, 6}));
  x.image_embedding = torch::Tensor();
  x.image = torch::randn({2, 3, 32, 32});
  EXPECT_THROW(net->forward(x, mask), psam::Error);
}

TEST(LatentNet, AxisAlignedMatchesTheProbabilisticUNetEncoder) {
  auto o = options(LatentNetKind::kAxisAligned, true, 3);
  o.num_filters = {4, 6, 8};
  o.latent_dim = 3;
  const auto net = make_latent_net(o);
  auto* aa = dynamic_cast<psam::prob::AxisAlignedLatentNetImpl*>(net.get());
  ASSERT_NE(aa, nullptr);
  // Blocks of 3 conv+ReLU, a pooling layer before every block but the first.
  const auto s = shapes(*net);
  ASSERT_EQ(s.size(), 2u * 9 + 2);
  EXPECT_EQ(s[0].first, "encoder.layers.0.weight");
  EXPECT_EQ(s[0].second, (std::vector<int64_t>{4, 4, 3, 3}));
  EXPECT_EQ(s[6].first, "encoder.layers.7.weight");  // index 6 is the first AvgPool2d
  EXPECT_EQ(s[6].second, (std::vector<int64_t>{6, 4, 3, 3}));
  EXPECT_EQ(s[12].first, "encoder.layers.14.weight");
  EXPECT_EQ(s.back().first, "conv_layer.bias");
  EXPECT_EQ(s[s.size() - 2].second, (std::vector<int64_t>{6, 8, 1, 1}));

  // The same computation written out with functional ops on the net's own weights; an odd
  // input size exercises the ceil-mode pooling.
  const auto image = torch::randn({2, 3, 15, 15});
  const auto mask = (torch::rand({2, 1, 15, 15}) > 0.5).to(torch::kFloat);
  auto h = torch::cat({image, mask}, 1);
  const auto params = net->named_parameters();
  const int64_t conv_index[3][3] = {{0, 2, 4}, {7, 9, 11}, {14, 16, 18}};
  for (int block = 0; block < 3; ++block) {
    if (block > 0) h = torch::avg_pool2d(h, 2, 2, 0, /*ceil_mode=*/true);
    for (int64_t i : conv_index[block]) {
      const std::string p = "encoder.layers." + std::to_string(i);
      h = torch::relu(torch::conv2d(h, params[p + ".weight"], params[p + ".bias"], 1, 1));
    }
  }
  const auto out =
      torch::conv2d(h.mean({2, 3}, true), params["conv_layer.weight"], params["conv_layer.bias"])
          .flatten(1);
  LatentInputs x;
  x.image = image;
  const auto q = net->forward(x, mask);
  EXPECT_TRUE(torch::allclose(q.mu(), out.slice(1, 0, 3), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(q.sigma(), out.slice(1, 3, 6).exp(), 1e-5, 1e-6));
}

TEST(LatentNet, InputSizeShrinksImageAndMaskByAreaAveraging) {
  auto full = options(LatentNetKind::kReference, true);
  auto small = full;
  small.input_size = 16;
  torch::manual_seed(3);
  const auto net_small = make_latent_net(small);
  const auto net_full = make_latent_net(full);
  torch::NoGradGuard no_grad;
  for (auto& p : net_full->named_parameters())
    p.value().copy_(net_small->named_parameters()[p.key()]);

  LatentInputs x, pooled;
  x.image = torch::randn({2, 3, 64, 64});
  const auto mask = (torch::rand({2, 1, 64, 64}) > 0.7).to(torch::kFloat);
  pooled.image = torch::avg_pool2d(x.image, 4);
  const auto a = net_small->forward(x, mask);
  const auto b = net_full->forward(pooled, torch::avg_pool2d(mask, 4));
  EXPECT_TRUE(torch::allclose(a.mu(), b.mu(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a.sigma(), b.sigma(), 1e-5, 1e-6));
  // A smaller input is enlarged to input_size.
  x.image = torch::randn({1, 3, 8, 8});
  EXPECT_NO_THROW(net_small->forward(x, torch::ones({1, 1, 8, 8})));
}

TEST(LatentNet, RejectsWrongInputs) {
  const auto prior = make_latent_net(options(LatentNetKind::kReference, false));
  const auto post = make_latent_net(options(LatentNetKind::kReference, true));
  LatentInputs x;
  EXPECT_THROW(prior->forward(x), psam::Error);  // no image
  x.image = torch::randn({2, 1, 16, 16});
  EXPECT_THROW(prior->forward(x), psam::Error);  // wrong channel count
  x.image = torch::randn({2, 3, 16, 16});
  EXPECT_NO_THROW(prior->forward(x));
  EXPECT_THROW(prior->forward(x, torch::ones({2, 1, 16, 16})), psam::Error);
  EXPECT_THROW(post->forward(x), psam::Error);
  EXPECT_THROW(post->forward(x, torch::ones({1, 1, 16, 16})), psam::Error);
  EXPECT_THROW(psam::prob::latent_net_kind_from_string("gaussian"), psam::Error);
  auto bad = options(LatentNetKind::kAxisAligned, false);
  bad.num_filters = {};
  EXPECT_THROW(make_latent_net(bad), psam::Error);
  bad = options(LatentNetKind::kReference, false);
  bad.latent_dim = 0;
  EXPECT_THROW(make_latent_net(bad), psam::Error);
}

TEST(LatentNet, KindNamesRoundTrip) {
  for (auto k : {LatentNetKind::kReference, LatentNetKind::kAxisAligned, LatentNetKind::kEmbedding})
    EXPECT_EQ(psam::prob::latent_net_kind_from_string(psam::prob::to_string(k)), k);
}

}  // namespace
