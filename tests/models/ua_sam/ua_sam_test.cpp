// UA-SAM as a registry method: every sample of a batch is computed on its own (a batch of B cases
// gives the B separate results), only the UA-SAM parts (and the prompt encoder / decoder, as
// configured) train, the prompt stays fixed while z varies between samples, and its reference
// tree exports and loads back.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/geometry/frame.h"
#include "psam/data/loader/loader.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/models/ua_sam/ua_sam_model.h"
#include "psam/sam/sam.h"
#include "psam/util/error.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

ModelConfig ua_config() {
  ModelConfig c = test::tiny_model("none");
  c.kind = "ua_sam";
  c.ua_sam.latent_dim = 3;
  c.ua_sam.num_filters = {4, 8};
  return c;
}

bool is_ua_part(const std::string& name) {
  for (const char* p : {"sam.image_encoder.adapters.", "sam.image_encoder.condition.",
                        "sam.image_encoder.res_MLP.", "Probabilistic_model."})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

io::TensorDict cloned_state(torch::nn::Module& m) {
  io::TensorDict copy;
  for (const auto& [name, t] : io::state_dict(m)) copy.insert(name, t.clone());
  return copy;
}

std::unique_ptr<Model> build_ua(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  auto model = build_model(c, torch::kCPU);
  // Fresh Linear biases are small; larger ones make every row's dependence on its own inputs
  // (and any coupling between rows) visible.
  torch::NoGradGuard no_grad;
  for (const auto& [name, p] : io::state_dict(model->module()))
    if (is_ua_part(name)) p.add_(torch::randn_like(p) * 0.3);
  return model;
}

TEST(UaSam, BatchOfCasesEqualsSeparateCalls) {
  for (const auto prompt : {UaSamPrompt::kBox, UaSamPrompt::kPoint}) {
    ModelConfig c = ua_config();
    c.ua_sam.prompt = prompt;
    auto model = build_ua(c, 5);
    auto& ua = dynamic_cast<UaSamModel&>(*model);
    model->module().eval();
    torch::NoGradGuard no_grad;
    const int64_t B = 3;
    const auto image = torch::randn({B, 3, 32, 32});
    const auto boxes = torch::tensor({{2.f, 3.f, 20.f, 25.f}, {8.f, 1.f, 30.f, 12.f},
                                      {0.f, 10.f, 15.f, 31.f}});
    const auto z = torch::randn({B, 3}) * 2;
    const auto batched = ua.decode_logits(image, boxes, z);
    ASSERT_EQ(batched.sizes(), (std::vector<int64_t>{B, 1, 16, 16}));
    for (int64_t b = 0; b < B; ++b) {
      const auto one = ua.decode_logits(image.slice(0, b, b + 1), boxes.slice(0, b, b + 1),
                                        z.slice(0, b, b + 1));
      EXPECT_TRUE(torch::allclose(batched.slice(0, b, b + 1), one, 1e-5, 1e-5)) << b;
    }
    // The rows differ, so the comparison above could tell them apart.
    EXPECT_FALSE(torch::allclose(batched[0], batched[1], 1e-3, 1e-3));
    // z reaches the output (through the adapters and res_MLP).
    EXPECT_FALSE(torch::allclose(ua.decode_logits(image, boxes, z + 1), batched, 1e-4, 1e-4));
  }
}

TEST(UaSam, WidthsFollowTheEncoderNotTheBatch) {
  const auto model = build_ua(ua_config(), 1);
  const auto state = io::state_dict(model->module());
  // tiny SAM: width 16 -> bottleneck 4, depth 2 -> condition 2, prompt 16 -> P of 32.
  EXPECT_EQ(state.at("sam.image_encoder.adapters.1.D_fc1.weight").sizes(),
            (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(state.at("sam.image_encoder.adapters.0.D_prompt.0.weight").size(0), 32);
  EXPECT_EQ(state.at("sam.image_encoder.adapters.0.PCAtten.MLP1.0.weight").sizes(),
            (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(state.at("sam.image_encoder.adapters.0.PCAtten.MLP3.2.weight").sizes(),
            (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(state.at("sam.image_encoder.condition.condition.4.weight").sizes(),
            (std::vector<int64_t>{2, 256}));
  EXPECT_EQ(state.at("sam.image_encoder.res_MLP.4.weight").sizes(),
            (std::vector<int64_t>{16, 8}));
  EXPECT_EQ(state.at("Probabilistic_model.posterior.encoder.layers.0.weight").size(1), 4);
  EXPECT_FALSE(state.contains("sam.image_encoder.adapters.2.D_fc1.weight"));
}

// Trains a few steps; returns the state before.
io::TensorDict train_steps(Model& model, int steps) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  io::TensorDict before = cloned_state(model.module());
  auto o = test::tiny_loader_options(true);
  model.prepare_loader(o, true);
  data::Loader loader(store, store->split_indices("train"), o);
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : model.trainable_parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2));
  train::LossConfig loss;
  loss.l2_weight = 1e-5;
  for (int step = 0; step < steps; ++step) {
    adam.zero_grad();
    const auto l = model.loss(*loader.next(), loss, step,
                              at::make_generator<at::CPUGeneratorImpl>(step));
    EXPECT_EQ(l.terms.size(), 4u);  // bce, dice, kl, l2
    l.total.backward();
    adam.step();
  }
  return before;
}

TEST(UaSam, OnlyUaSamPartsAndDecoderTrain) {
  ModelConfig c = ua_config();
  c.prob.trainable.prompt_encoder = false;
  // As built (build_ua's enlarged weights put the latent nets' log sigma near 30 and the first
  // KL near 1e14, where Adam's updates are no longer reproducible).
  torch::manual_seed(3);
  const auto model = build_model(c, torch::kCPU);
  EXPECT_FALSE(model->cacheable_encoder().has_value());
  EXPECT_FALSE(model->deterministic());
  const io::TensorDict before = train_steps(*model, 3);
  int64_t changed = 0, ua_tensors = 0;
  for (const auto& [name, t] : io::state_dict(model->module())) {
    const bool same = torch::equal(t, before.at(name));
    if (name.rfind("sam.image_encoder.adapters.1.PCAtten.MLP3.", 0) == 0) {
      // The last adapter's next position variant feeds nothing (as in the reference).
      EXPECT_TRUE(same) << name;
    } else if (is_ua_part(name)) {
      ++ua_tensors;
      changed += same ? 0 : 1;
    } else if (name.rfind("sam.mask_decoder.", 0) != 0) {
      EXPECT_TRUE(same) << name << " changed";
    }
  }
  EXPECT_EQ(changed, ua_tensors);  // res_MLP included
  EXPECT_FALSE(
      torch::equal(io::state_dict(model->module()).at("sam.mask_decoder.mask_tokens.weight"),
                   before.at("sam.mask_decoder.mask_tokens.weight")));
}

TEST(UaSam, ResMlpFrozenAsTheReferenceOnRequest) {
  ModelConfig c = ua_config();
  c.ua_sam.train_res_mlp = false;
  const auto model = build_ua(c, 3);
  for (const auto& [name, p] : model->trainable_parameters())
    EXPECT_EQ(name.find("res_MLP"), std::string::npos) << name;
  const io::TensorDict before = train_steps(*model, 2);
  const auto after = io::state_dict(model->module());
  EXPECT_TRUE(torch::equal(after.at("sam.image_encoder.res_MLP.0.weight"),
                           before.at("sam.image_encoder.res_MLP.0.weight")));
  EXPECT_FALSE(torch::equal(after.at("sam.image_encoder.adapters.0.D_fc1.weight"),
                            before.at("sam.image_encoder.adapters.0.D_fc1.weight")));
}

TEST(UaSam, SamplesKeepThePromptAndVaryZ) {
  auto model = build_ua(ua_config(), 2);
  model->module().eval();
  torch::NoGradGuard no_grad;
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{24, 40}, {40, 24}, {32, 32}}) {
    data::Batch batch;
    batch.image = torch::randn({1, 3, 32, 32});
    batch.box = torch::tensor({{4.f, 4.f, 20.f, 18.f}});
    batch.size = {h, w};
    const auto drawn = model->sample(batch, 4, at::make_generator<at::CPUGeneratorImpl>(9));
    ASSERT_EQ(drawn.logits.sizes(), (std::vector<int64_t>{4, h, w}));
    ASSERT_EQ(drawn.mean_logits.sizes(), (std::vector<int64_t>{h, w}));
    ASSERT_EQ(drawn.z.sizes(), (std::vector<int64_t>{4, 3}));
    EXPECT_FALSE(torch::allclose(drawn.logits[0], drawn.logits[1], 1e-4, 1e-4));
    // Each sample is the decoding of its own code with the case's one prompt.
    auto& ua = dynamic_cast<UaSamModel&>(*model);
    const auto one = geometry::frame_to_image(
        ua.decode_logits(batch.image, batch.box, drawn.z.slice(0, 2, 3)), 32, batch.size);
    EXPECT_TRUE(torch::allclose(one[0][0], drawn.logits[2], 1e-4, 1e-4));
  }
}

TEST(UaSam, ExportsTheReferenceTreeAndLoadsItBack) {
  const auto model = build_ua(ua_config(), 4);
  const io::TensorDict exported = model->export_state("ua_sam");
  EXPECT_TRUE(exported.contains("image_encoder.adapters.0.PCAtten.W11.weight"));
  EXPECT_TRUE(exported.contains("image_encoder.condition.condition.2.weight"));
  EXPECT_TRUE(exported.contains("image_encoder.res_MLP.0.weight"));
  EXPECT_TRUE(exported.contains("Probabilistic_model.prior.conv_layer.weight"));
  EXPECT_TRUE(exported.contains("mask_decoder.mask_tokens.weight"));
  EXPECT_THROW(model->export_state("sam"), Error);

  const auto other = build_ua(ua_config(), 5);
  other->init_from_foreign(exported, "ua_sam.pth");
  for (const auto& [name, t] : io::state_dict(other->module())) {
    const std::string ref = name.rfind("sam.", 0) == 0 ? name.substr(4) : name;
    EXPECT_TRUE(torch::equal(t, exported.at(ref))) << name;
  }
  // Official SAM weights alone: the UA-SAM parts stay as they were.
  const auto official = io::state_dict(*sam::build_sam(test::tiny_sam()));
  const io::TensorDict kept = cloned_state(other->module());
  other->init_from_foreign(official, "sam.pth");
  for (const auto& [name, t] : io::state_dict(other->module())) {
    const auto& expected = is_ua_part(name) ? kept.at(name) : official.at(name.substr(4));
    EXPECT_TRUE(torch::equal(t, expected)) << name;
  }
}

TEST(UaSam, ConfigErrors) {
  ModelConfig c = ua_config();
  c.prob.trainable.image_encoder = true;
  EXPECT_THROW(build_model(c, torch::kCPU), Error);
  c = ua_config();
  c.prob.latent_net = prob::LatentNetKind::kAxisAligned;
  EXPECT_THROW(build_model(c, torch::kCPU), Error);
  c = ua_config();
  c.ua_sam.num_filters = {};
  EXPECT_THROW(c.validate(), Error);
  c = ua_config();
  c.ua_sam.mlp_ratio = 0;
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace psam::models
