// ProbSam: module names, trainable-part selection (which parameters get gradients), batched
// sampling against one-at-a-time decoding, and the deterministic (latent_net none) variant.
#include "psam/prob/prob_sam.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>

#include "psam/geometry/frame.h"
#include "psam/train/loss.h"
#include "psam/util/error.h"
#include "support/tiny_prob_sam.h"

namespace psam::prob {
namespace {

// The shared tiny shape with two encoder blocks (one windowed, one global) and the pixel latent
// nets at full input size, so the tests run in well under a second.
ProbSamConfig tiny_config(const std::string& latent_net) {
  ProbSamConfig c = test::tiny_prob_sam_config(latent_net);
  c.sam.encoder_depth = 2;
  c.sam.encoder_global_attn_indexes = {1};
  c.latent_input_size = 0;
  return c;
}

// One batch of B random images with square masks and their tight boxes.
ProbSamInputs batch(ProbSam& model, int64_t B) {
  torch::manual_seed(7);
  ProbSamInputs in;
  const int64_t s = model->config().sam.img_size;
  in.image = torch::randn({B, 3, s, s});
  in.image_embedding = model->embed(in.image);
  in.target = torch::zeros({B, 1, 32, 32});
  in.target.slice(2, 8, 20).slice(3, 10, 26).fill_(1);
  in.boxes = torch::tensor({{20.f, 16.f, 52.f, 40.f}}).expand({B, 4}).contiguous();
  return in;
}

// The part of the model a parameter name belongs to.
std::string part_of(const std::string& name) {
  for (const char* p : {"sam.image_encoder.", "sam.prompt_encoder.", "sam.mask_decoder.",
                        "prior_net.", "posterior_net.", "fcomb.z_projector."})
    if (name.rfind(p, 0) == 0) return p;
  return "unknown: " + name;
}

TEST(ProbSam, StateDictNamesFollowTheReferenceModuleTree) {
  auto config = tiny_config("reference");
  config.projector_hidden = 0;
  ProbSam model(config);
  std::set<std::string> parts;
  for (const auto& p : model->named_parameters()) parts.insert(part_of(p.key()));
  EXPECT_EQ(parts,
            (std::set<std::string>{"sam.image_encoder.", "sam.prompt_encoder.", "sam.mask_decoder.",
                                   "prior_net.", "posterior_net.", "fcomb.z_projector."}));
  // SAM's own names, under sam.
  const auto sam_names = sam::Sam(config.sam)->named_parameters().keys();
  for (const auto& name : sam_names) EXPECT_TRUE(model->named_parameters().contains("sam." + name));
  const auto params = model->named_parameters();
  // Projector hidden width follows the prompt width (16) unless configured.
  EXPECT_EQ(params["fcomb.z_projector.0.weight"].sizes(), (std::vector<int64_t>{16, 6}));
  EXPECT_EQ(params["fcomb.z_projector.2.weight"].sizes(), (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(params["prior_net.encoder.0.weight"].sizes(), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(params["posterior_net.encoder.0.weight"].sizes(), (std::vector<int64_t>{32, 4, 3, 3}));
  EXPECT_TRUE(params.contains("prior_net.fc_mu.weight"));
  EXPECT_TRUE(params.contains("posterior_net.fc_log_sigma.bias"));

  config.projector_hidden = 40;
  const auto wide = ProbSam(config)->named_parameters();
  EXPECT_EQ(wide["fcomb.z_projector.0.weight"].sizes(), (std::vector<int64_t>{40, 6}));
  EXPECT_EQ(wide["fcomb.z_projector.2.weight"].sizes(), (std::vector<int64_t>{16, 40}));
}

// Backpropagates the full loss and returns, per part, whether some parameter of it got a
// non-zero gradient; also checks that frozen parameters got no gradient at all.
std::map<std::string, bool> parts_with_gradient(ProbSam& model) {
  auto in = batch(model, 2);
  const auto out = model->forward(in);
  const auto loss =
      train::prob_sam_loss(out.logits, in.target, out.posterior, out.prior, {}, 0).total;
  loss.backward();
  std::map<std::string, bool> got;
  for (const auto& p : model->named_parameters()) {
    const auto& t = p.value();
    const bool nonzero = t.grad().defined() && t.grad().abs().sum().item<double>() > 0;
    got[part_of(p.key())] |= nonzero;
    if (!t.requires_grad()) {
      EXPECT_FALSE(t.grad().defined()) << p.key() << " is frozen";
    }
  }
  return got;
}

TEST(ProbSam, DefaultTrainsEverythingButTheEncoder) {
  ProbSam model(tiny_config("reference"));
  const auto got = parts_with_gradient(model);
  EXPECT_EQ(got, (std::map<std::string, bool>{{"sam.image_encoder.", false},
                                              {"sam.prompt_encoder.", true},
                                              {"sam.mask_decoder.", true},
                                              {"prior_net.", true},
                                              {"posterior_net.", true},
                                              {"fcomb.z_projector.", true}}));
  // The optimiser gets exactly the parameters that require gradients: none of the encoder.
  const auto trainable = model->trainable_parameters();
  int64_t expected = 0;
  for (const auto& p : model->named_parameters())
    if (part_of(p.key()) != "sam.image_encoder.") ++expected;
  EXPECT_EQ(static_cast<int64_t>(trainable.size()), expected);
  // A frozen encoder's embedding carries no graph.
  EXPECT_FALSE(model->embed(torch::randn({1, 3, 64, 64})).requires_grad());
}

TEST(ProbSam, TrainablePartsAreAConfigChoice) {
  auto config = tiny_config("embedding");
  config.trainable.image_encoder = true;
  config.trainable.prompt_encoder = false;
  config.trainable.latent_nets = false;
  ProbSam model(config);
  const auto got = parts_with_gradient(model);
  EXPECT_EQ(got, (std::map<std::string, bool>{{"sam.image_encoder.", true},
                                              {"sam.prompt_encoder.", false},
                                              {"sam.mask_decoder.", true},
                                              {"prior_net.", false},
                                              {"posterior_net.", false},
                                              {"fcomb.z_projector.", true}}));
}

TEST(ProbSam, BatchedSamplesEqualOneAtATimeDecoding) {
  for (const char* kind : {"reference", "axis_aligned", "embedding"}) {
    SCOPED_TRACE(kind);
    ProbSam model(tiny_config(kind));
    model->eval();
    torch::NoGradGuard no_grad;
    const auto in = batch(model, 1);
    const int64_t n = 5;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    const auto out = model->sample(in.image_embedding, in.image, in.boxes, n, {32, 32}, gen);
    ASSERT_EQ(out.samples.sizes(), (std::vector<int64_t>{n, 1, 32, 32}));
    ASSERT_EQ(out.prior_mean.sizes(), (std::vector<int64_t>{1, 1, 32, 32}));
    ASSERT_EQ(out.z.sizes(), (std::vector<int64_t>{n, 6}));
    for (int64_t i = 0; i < n; ++i) {
      const auto one =
          geometry::resize_logits(model->decode(in.image_embedding, in.boxes, out.z.slice(0, i, i + 1),
                                           sam::EmbeddingBatching::kPaired),
                             {32, 32});
      EXPECT_TRUE(torch::allclose(out.samples.slice(0, i, i + 1), one, 1e-5, 1e-5)) << i;
    }
    const auto prior = model->prior(in.image_embedding, in.image);
    const auto at_mean = geometry::resize_logits(
        model->decode(in.image_embedding, in.boxes, prior.mu(), sam::EmbeddingBatching::kPaired),
        {32, 32});
    EXPECT_TRUE(torch::allclose(out.prior_mean, at_mean, 1e-5, 1e-5));
    // Different codes give different masks: z really reaches the decoder.
    EXPECT_GT((out.samples[0] - out.samples[1]).abs().max().item<double>(), 1e-4);
    // The codes are prior draws: same generator seed, same codes.
    auto again = at::make_generator<at::CPUGeneratorImpl>(11);
    EXPECT_TRUE(torch::equal(
        model->sample(in.image_embedding, in.image, in.boxes, n, {32, 32}, again).z, out.z));
  }
}

// prior_draws: n reparameterised prior codes per image, image-major, each decoded with its own
// image's embedding and box; the gradient reaches the prior's mu and sigma.
TEST(ProbSam, PriorDrawsDecodeEachImagesCodes) {
  ProbSam model(tiny_config("reference"));
  auto in = batch(model, 2);
  in.image_embedding = in.image_embedding.detach();
  in.boxes = torch::tensor({{20.f, 16.f, 52.f, 40.f}, {4.f, 8.f, 30.f, 60.f}});
  const auto prior = model->prior(in.image_embedding, in.image);
  const int64_t n = 3;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto draws = model->prior_draws(in.image_embedding, in.boxes, prior, n, {32, 32}, gen);
  ASSERT_EQ(draws.sizes(), (std::vector<int64_t>{2, n, 32, 32}));
  auto same = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto z = prior.rsample(n, same).detach();  // [n,B,L]
  {
    torch::NoGradGuard no_grad;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < n; ++i) {
        const auto one = geometry::resize_logits(
            model->decode(in.image_embedding.slice(0, b, b + 1), in.boxes.slice(0, b, b + 1),
                          z[i].slice(0, b, b + 1), sam::EmbeddingBatching::kPaired),
            {32, 32});
        EXPECT_TRUE(torch::allclose(draws[b][i], one[0][0], 1e-5, 1e-5)) << b << " " << i;
      }
  }
  draws.sum().backward();
  for (const auto& item : model->named_parameters()) {
    const auto& p = item.value();
    if (item.key().rfind("prior_net.", 0) != 0 || !p.requires_grad()) continue;
    ASSERT_TRUE(p.grad().defined()) << item.key();
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << item.key();
  }
}

TEST(ProbSam, DeterministicVariantIsPlainSam) {
  ProbSam model(tiny_config("none"));
  EXPECT_TRUE(model->deterministic());
  EXPECT_FALSE(model->prior_net);
  EXPECT_FALSE(model->posterior_net);
  EXPECT_TRUE(model->fcomb.is_empty());
  // Exactly SAM's parameters, under sam.
  const auto sam_names = sam::Sam(model->config().sam)->named_parameters().keys();
  EXPECT_EQ(model->named_parameters().size(), sam_names.size());
  for (const auto& name : sam_names) EXPECT_TRUE(model->named_parameters().contains("sam." + name));

  auto in = batch(model, 2);
  in.image = torch::Tensor();  // not needed without pixel latent nets
  const auto out = model->forward(in);
  EXPECT_FALSE(out.prior.defined());
  EXPECT_FALSE(out.posterior.defined());
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  const auto terms = train::prob_sam_loss(out.logits, in.target, out.posterior, out.prior, {}, 0);
  EXPECT_EQ(terms.kl.item<double>(), 0.0);
  EXPECT_NEAR(terms.total.item<double>(), (terms.bce + terms.dice).item<double>(), 1e-6);

  torch::NoGradGuard no_grad;
  const auto emb = in.image_embedding.slice(0, 0, 1), box = in.boxes.slice(0, 0, 1);
  const auto s = model->sample(emb, {}, box, 3, {32, 32});
  const auto plain =
      geometry::resize_logits(model->decode(emb, box, {}, sam::EmbeddingBatching::kPaired), {32, 32});
  ASSERT_EQ(s.samples.size(0), 3);
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(s.samples[i], plain[0]));
  EXPECT_TRUE(torch::equal(s.prior_mean, plain));
}

TEST(ProbSam, InputErrorsNameWhatIsMissing) {
  ProbSam model(tiny_config("reference"));
  auto in = batch(model, 1);
  in.image = torch::Tensor();
  EXPECT_THROW(model->forward(in), Error);  // the reference nets read pixels
  EXPECT_THROW(latent_net_kind_from_string("gaussian"), Error);
  auto bad = tiny_config("reference");
  bad.latent_dim = 0;
  EXPECT_THROW(ProbSam{bad}, Error);
  ProbSam embedding_model(tiny_config("embedding"));
  auto in2 = batch(embedding_model, 1);
  in2.image = torch::Tensor();
  EXPECT_NO_THROW(embedding_model->forward(in2));
  EXPECT_THROW(embedding_model->sample(in2.image_embedding, {}, in2.boxes, 0, {32, 32}), Error);
}

}  // namespace
}  // namespace psam::prob
