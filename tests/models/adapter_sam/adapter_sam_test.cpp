// Adapter SAM: only the adapters (and the prompt encoder / decoder, as configured) train, the
// ViT's own weights never change; no embedding cache; official SAM weights load with fresh
// adapters and a Med-SA checkpoint with its own.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/data/loader/loader.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/sam/sam.h"
#include "psam/util/error.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

ModelConfig adapter_config() {
  ModelConfig c = test::tiny_model("none");
  c.kind = "adapter_sam";
  return c;
}

bool is_adapter(const std::string& name) { return name.find("_Adapter.") != std::string::npos; }

TEST(AdapterSam, OnlyAdaptersPromptEncoderAndDecoderTrain) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  ModelConfig config = adapter_config();
  config.prob.trainable.prompt_encoder = false;
  torch::manual_seed(3);
  const auto model = build_model(config, torch::kCPU);
  EXPECT_FALSE(model->cacheable_encoder().has_value());
  EXPECT_TRUE(model->deterministic());
  for (const auto& [name, p] : model->trainable_parameters()) {
    const bool encoder = name.rfind("sam.image_encoder.", 0) == 0;
    EXPECT_TRUE(!encoder || is_adapter(name)) << name << " trains";
    EXPECT_EQ(name.rfind("sam.prompt_encoder.", 0), std::string::npos) << name << " trains";
  }
  const io::TensorDict before = [&] {
    io::TensorDict copy;
    for (const auto& [name, t] : io::state_dict(model->module())) copy.insert(name, t.clone());
    return copy;
  }();

  auto o = test::tiny_loader_options(true);
  model->prepare_loader(o, true);
  data::Loader loader(store, store->split_indices("train"), o);
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : model->trainable_parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    model
        ->loss(*loader.next(), train::LossConfig{}, step,
               at::make_generator<at::CPUGeneratorImpl>(step))
        .total.backward();
    adam.step();
  }
  int64_t changed_adapters = 0;
  for (const auto& [name, t] : io::state_dict(model->module())) {
    const bool same = torch::equal(t, before.at(name));
    if (is_adapter(name)) {
      changed_adapters += same ? 0 : 1;
    } else if (name.rfind("sam.image_encoder.", 0) == 0 ||
               name.rfind("sam.prompt_encoder.", 0) == 0) {
      EXPECT_TRUE(same) << name << " changed";
    }
  }
  // Every adapter tensor of both blocks (8 per block) learned, and so did the decoder.
  EXPECT_EQ(changed_adapters, 2 * 8);
  EXPECT_FALSE(
      torch::equal(io::state_dict(model->module()).at("sam.mask_decoder.mask_tokens.weight"),
                   before.at("sam.mask_decoder.mask_tokens.weight")));
}

TEST(AdapterSam, ConfigErrors) {
  ModelConfig c = adapter_config();
  c.prob.trainable.image_encoder = true;
  try {
    build_model(c, torch::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set model.trainable.image_encoder: false"),
              std::string::npos)
        << e.what();
  }
  c = adapter_config();
  c.prob.latent_net = prob::LatentNetKind::kAxisAligned;
  EXPECT_THROW(build_model(c, torch::kCPU), Error);
  c = adapter_config();
  c.adapter_sam.adapters.mlp_ratio = 0;
  EXPECT_THROW(c.validate(), Error);
}

// Official SAM weights: the SAM part from the file, the adapters stay as they are. A Med-SA
// checkpoint: its adapters too, without its 3-D Depth_Adapter; anything else unknown is an error.
TEST(AdapterSam, InitFromSamAndMedSaWeights) {
  torch::manual_seed(4);
  const auto model = build_model(adapter_config(), torch::kCPU);
  const auto fresh = io::state_dict(model->module());
  const auto official = io::state_dict(*sam::build_sam(test::tiny_sam()));
  io::TensorDict ours_before;
  for (const auto& [name, t] : fresh) ours_before.insert(name, t.clone());
  model->init_from_foreign(official.with_prefix_added("module."), "sam.pth");
  for (const auto& [name, t] : io::state_dict(model->module())) {
    const auto expected = is_adapter(name) ? ours_before.at(name) : official.at(name.substr(4));
    EXPECT_TRUE(torch::equal(t, expected)) << name;
  }

  io::TensorDict medsa;
  for (const auto& [name, t] : io::state_dict(model->module()))
    medsa.insert(name.substr(4), is_adapter(name) ? t + 1 : t);
  medsa.insert("image_encoder.blocks.0.Depth_Adapter.D_fc1.weight", torch::zeros({4, 16}));
  model->init_from_foreign(medsa, "medsa.pth");
  for (const auto& [name, t] : io::state_dict(model->module()))
    EXPECT_TRUE(torch::equal(t, medsa.at(name.substr(4)))) << name;
  EXPECT_TRUE(torch::equal(
      model->export_state("adapter").at("image_encoder.blocks.1.MLP_Adapter.D_fc1.bias"),
      medsa.at("image_encoder.blocks.1.MLP_Adapter.D_fc1.bias")));

  medsa.insert("image_encoder.blocks.0.Other.weight", torch::zeros({1}));
  EXPECT_THROW(model->init_from_foreign(medsa, "other.pth"), Error);
}

}  // namespace
}  // namespace psam::models
