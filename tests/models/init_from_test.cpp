// models::build_model's model.init_from: every layout psam writes, and official SAM files, load
// into a fresh model; which weights come from the file and which stay fresh depends on the model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/sam/export.h"
#include "psam/train/checkpoint.h"
#include "psam/util/error.h"
#include "support/testing.h"
#include "models/tiny_methods.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

class InitFrom : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(11);
    source_ = io::state_dict(build_model(test::tiny_model(), torch::kCPU)->module());
  }

  // A model built from `file`, after reseeding so that its fresh weights differ from source_'s.
  io::TensorDict built(const std::string& file, const std::string& latent_net = "reference") {
    torch::manual_seed(12);
    auto config = test::tiny_model(latent_net);
    config.init_from = file;
    return io::state_dict(build_model(config, torch::kCPU)->module());
  }

  // Every entry of `model` equals source_'s when its name starts with one of `from_file`, and
  // differs from it otherwise (a fresh random initialisation).
  void expect_from_file(const io::TensorDict& model, const std::vector<std::string>& from_file) {
    for (const auto& [name, t] : model) {
      bool expected = false;
      for (const auto& p : from_file) expected = expected || name.compare(0, p.size(), p) == 0;
      const auto& s = source_.at(name);
      // Parameters initialised to constants (LayerNorm, biases) match either way.
      if (!expected && s.numel() > 1 && (s.min().item<float>() == s.max().item<float>())) continue;
      EXPECT_EQ(torch::equal(t, s), expected) << name;
    }
  }

  support::TempDir dir_;
  io::TensorDict source_;
};

TEST_F(InitFrom, TrainingCheckpointGivesEveryWeight) {
  train::Checkpoint c;
  c.model = source_;
  c.optimizer_kind = "adamw";
  c.schedule_kind = "constant";
  c.rng_cpu = c.rng_train = torch::zeros({8}, torch::kUInt8);
  const auto file = dir_.path() + "/last.pt";
  train::write_checkpoint(file, c);
  expect_from_file(built(file), {""});
}

// A checkpoint that stores its model config: the same kind and shape takes every weight; a
// model of another latent net takes the SAM part and the latent nets it can (none here).
TEST_F(InitFrom, CheckpointWithStoredConfig) {
  train::Checkpoint c;
  c.model = source_;
  c.optimizer_kind = "adamw";
  c.schedule_kind = "constant";
  c.rng_cpu = c.rng_train = torch::zeros({8}, torch::kUInt8);
  c.model_config = model_config_json(test::tiny_model());
  const auto file = dir_.path() + "/stored.pt";
  train::write_checkpoint(file, c);
  expect_from_file(built(file), {""});
  const auto deterministic = built(file, "none");
  for (const auto& [name, t] : deterministic) EXPECT_TRUE(torch::equal(t, source_.at(name))) << name;
}

TEST_F(InitFrom, ReferenceLayoutExportGivesEveryWeight) {
  // psam export --part full: SAM, latent nets and the fcomb.decoder.* duplicate.
  const auto file = dir_.path() + "/full.pth";
  io::write_pth(file, sam::reference_prob_sam_state_dict(source_, test::tiny_sam(), "source"));
  expect_from_file(built(file), {""});
}

TEST_F(InitFrom, OfficialSamFileGivesTheSamWeightsOnly) {
  const auto file = dir_.path() + "/sam.safetensors";
  io::write_safetensors(file, sam::official_sam_state_dict(source_, test::tiny_sam(), "source"));
  expect_from_file(built(file), {"sam."});
}

TEST_F(InitFrom, DataParallelWrappedSamFile) {
  // MedSAM-style: {"model": {"module.image_encoder...": ...}}.
  const auto sam = sam::official_sam_state_dict(source_, test::tiny_sam(), "source");
  c10::impl::GenericDict inner(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [name, t] : sam) inner.insert("module." + name, t);
  c10::impl::GenericDict outer(c10::StringType::get(), c10::AnyType::get());
  outer.insert("model", inner);
  outer.insert("epoch", int64_t{3});
  const auto file = dir_.path() + "/medsam.pth";
  io::write_pth(file, outer);
  expect_from_file(built(file), {"sam."});
}

TEST_F(InitFrom, DeterministicModelTakesTheSamPartOfAProbabilisticFile) {
  const auto file = dir_.path() + "/full.pth";
  io::write_pth(file, sam::reference_prob_sam_state_dict(source_, test::tiny_sam(), "source"));
  const auto model = built(file, "none");
  EXPECT_FALSE(model.contains("prior_net.encoder.0.weight"));
  for (const auto& [name, t] : model) EXPECT_TRUE(torch::equal(t, source_.at(name))) << name;
}

// A psam file of a method with no SAM in it: the error names both kinds, not a missing tensor.
TEST_F(InitFrom, AnotherMethodWithNothingThatFitsNamesBothKinds) {
  const auto unet = test::tiny_config_for("prob_unet");
  ASSERT_TRUE(unet.has_value());
  train::Checkpoint c;
  c.model = io::state_dict(build_model(*unet, torch::kCPU)->module());
  c.optimizer_kind = "adamw";
  c.schedule_kind = "constant";
  c.rng_cpu = c.rng_train = torch::zeros({8}, torch::kUInt8);
  c.model_config = model_config_json(*unet);
  const auto file = dir_.path() + "/unet.pt";
  train::write_checkpoint(file, c);
  try {
    built(file);
    FAIL() << "a prob_unet checkpoint initialised a prob_sam";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a psam prob_unet model, and nothing of it fits a "
                                         "prob_sam"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(InitFrom, ShapeMismatchNamesTheFile) {
  auto other = test::tiny_model();
  other.prob.sam.encoder_embed_dim = 32;
  torch::manual_seed(3);
  const auto file = dir_.path() + "/wide.pth";
  io::write_pth(file, io::state_dict(build_model(other, torch::kCPU)->module()));
  try {
    built(file);
    FAIL() << "a shape mismatch loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace psam::models
