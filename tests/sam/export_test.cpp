// init_from (official / MedSAM-style checkpoints into a SAM) and the export layouts, on the
// golden tiny SAM and Probabilistic SAM weights.
#include <gtest/gtest.h>

#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/io/state_dict.h"
#include "psam/prob/prob_sam.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/util/error.h"
#include "psam/sam/config_json.h"
#include "support/golden.h"
#include "support/golden_prob.h"
#include "support/testing.h"

namespace psam {
namespace {

class SamExport : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    set_ = support::find_golden_set(&why);
    if (!set_) GTEST_SKIP() << why;
    golden_path_ = set_->file("sam", ".pth");
    prob_path_ = set_->file("probsam", ".pth");
    config_ = sam::read_sam_config_json(set_->file("config", ".json"));
    golden_ = io::read_tensors(golden_path_);
  }

  // Every tensor of the model equals the golden weight of the same official name.
  void expect_golden_weights(const torch::nn::Module& model) const {
    const auto sd = io::state_dict(model);
    ASSERT_EQ(sd.size(), golden_.size());
    for (const auto& [name, t] : sd) EXPECT_TRUE(t.equal(golden_.at(name))) << name;
  }

  io::TensorDict prob_state(const std::string& prefix) const {
    return support::golden_prob_sam_state(*set_, prefix);
  }

  std::optional<support::GoldenSet> set_;
  support::TempDir tmp_;
  std::string golden_path_, prob_path_;
  sam::SamConfig config_;
  io::TensorDict golden_;
};

// A MedSAM-style training checkpoint written by PyTorch itself: {"model": {"module." + key}}
// beside optimizer state and an epoch number.
TEST_F(SamExport, InitFromWrappedModulePrefixedPythonCheckpoint) {
  if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  const auto wrapped = tmp_.file("medsam_style.pth");
  const auto script = tmp_.write("wrap.py", R"(import sys, collections, torch
sd = torch.load(sys.argv[1])
model = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
first = next(iter(sd.values()))
torch.save({"epoch": 3, "model": model,
            "optimizer": {"state": {0: {"exp_avg": torch.zeros_like(first)}},
                          "param_groups": [{"lr": 1e-4, "params": [0]}]}}, sys.argv[2])
)");
  support::run_python(script + " " + golden_path_ + " " + wrapped);

  auto model = sam::build_sam(config_);
  EXPECT_EQ(sam::init_sam_from(*model, wrapped), "model.module.");
  expect_golden_weights(*model);
}

TEST_F(SamExport, InitFromSafetensors) {
  const auto path = tmp_.file("sam.safetensors");
  io::write_safetensors(path, golden_);
  auto model = sam::build_sam(config_);
  EXPECT_EQ(sam::init_sam_from(*model, path), "");
  expect_golden_weights(*model);
}

// The SAM part of a Probabilistic SAM takes the weights; the latent nets in the file are not
// SAM's and are left alone (the file's are not loaded, the model's keep their values).
TEST_F(SamExport, InitFromIntoTheSamPartOfAProbSam) {
  const auto path = tmp_.file("prob.pth");
  io::write_pth(path, prob_state(""));
  prob::ProbSamConfig config;
  config.sam = config_;
  prob::ProbSam model(config);
  const auto prior_before = model->prior_net->parameters().front().clone();
  EXPECT_EQ(sam::init_sam_from(*model->sam, path), "sam.");
  expect_golden_weights(*model->sam);
  EXPECT_TRUE(model->prior_net->parameters().front().equal(prior_before));
}

TEST_F(SamExport, InitFromListsEveryShapeMismatchInOneLineAndCopiesNothing) {
  auto other = config_;
  other.mask_in_chans = config_.mask_in_chans / 2;
  auto model = sam::build_sam(other);
  const auto before = io::state_dict(*model).at("image_encoder.pos_embed").clone();
  try {
    sam::init_sam_from(*model, golden_path_);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find(golden_path_), std::string::npos) << msg;
    // mask_downscaling (conv 0, LayerNorm2d 1, conv 3, LayerNorm2d 4, conv 6) is shaped by
    // mask_in_chans: 9 tensors, of which the first 8 are named.
    EXPECT_NE(msg.find("shape mismatch 9 [prompt_encoder.mask_downscaling.0.weight: 4x1x2x2 in "
                       "file, 2x1x2x2 in model"),
              std::string::npos)
        << msg;
    EXPECT_NE(
        msg.find("prompt_encoder.mask_downscaling.4.bias: 16 in file, 8 in model, ... 1 more]"),
        std::string::npos)
        << msg;
    for (const char* key :
         {"mask_downscaling.0.bias", "mask_downscaling.1.weight", "mask_downscaling.1.bias",
          "mask_downscaling.3.weight", "mask_downscaling.3.bias", "mask_downscaling.4.weight"})
      EXPECT_NE(msg.find(key), std::string::npos) << key << " not in: " << msg;
  }
  EXPECT_TRUE(io::state_dict(*model).at("image_encoder.pos_embed").equal(before));
}

TEST_F(SamExport, InitFromNamesMissingAndUnexpectedWeights) {
  io::TensorDict edited;
  for (const auto& [name, t] : golden_)
    if (name != "mask_decoder.iou_token.weight") edited.insert("module." + name, t);
  edited.insert("module.mask_decoder.extra_head.weight", torch::zeros({2}));
  const auto path = tmp_.file("edited.pth");
  io::write_pth(path, edited);
  auto model = sam::build_sam(config_);
  try {
    sam::init_sam_from(*model, path);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing 1 [module.mask_decoder.iou_token.weight]"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("unexpected 1 [module.mask_decoder.extra_head.weight]"), std::string::npos)
        << msg;
  }
}

TEST_F(SamExport, ReadModelStateDictTakesTheModelEntryOfATrainingCheckpoint) {
  const auto path = tmp_.file("ckpt.pt");
  c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
  c10::impl::GenericDict model(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [name, t] : golden_) model.insert("sam." + name, t);
  c10::impl::GenericDict optimizer(c10::StringType::get(), c10::AnyType::get());
  optimizer.insert("sam.image_encoder.pos_embed", golden_.at("image_encoder.pos_embed") * 0);
  ckpt.insert("optimizer", optimizer);  // before "model", so the order cannot decide
  ckpt.insert("model", model);
  ckpt.insert("epoch", int64_t{4});
  io::write_pth(path, ckpt);
  const auto state = sam::read_model_state_dict(path);
  EXPECT_EQ(state.size(), golden_.size());
  EXPECT_TRUE(state.at("sam.image_encoder.pos_embed").equal(golden_.at("image_encoder.pos_embed")));
}

TEST_F(SamExport, OfficialLayoutHasTheOfficialNamesInOrder) {
  const auto out = sam::official_sam_state_dict(prob_state("model."), config_, "test");
  ASSERT_EQ(out.keys(), golden_.keys());
  for (const auto& [name, t] : out) EXPECT_TRUE(t.equal(golden_.at(name))) << name;
}

TEST_F(SamExport, ReferenceLayoutDuplicatesTheMaskDecoderUnderFcomb) {
  const auto state = prob_state("model.");
  const auto out = sam::reference_prob_sam_state_dict(state, config_, "test");
  size_t decoder = 0;
  for (const auto& [name, t] : golden_) {
    EXPECT_TRUE(out.at("sam." + name).equal(t)) << name;
    if (name.rfind("mask_decoder.", 0) == 0) {
      ++decoder;
      EXPECT_TRUE(out.at("fcomb.decoder." + name.substr(13)).equal(t)) << name;
    }
  }
  const auto latent = io::read_tensors(prob_path_);
  EXPECT_EQ(out.size(), golden_.size() + latent.size() + decoder);
  EXPECT_TRUE(out.at("prior_net.fc_mu.weight").equal(latent.at("prior.fc_mu.weight")));
  EXPECT_TRUE(
      out.at("posterior_net.encoder.0.weight").equal(latent.at("posterior.encoder.0.weight")));
  EXPECT_TRUE(out.at("fcomb.z_projector.2.bias").equal(latent.at("z_projector.2.bias")));

  // An existing fcomb.decoder copy is accepted when it is the same weights.
  const auto again = sam::reference_prob_sam_state_dict(out, config_, "test");
  EXPECT_EQ(again.keys(), out.keys());
}

TEST_F(SamExport, ReferenceLayoutRefusesIncompleteOrForeignWeights) {
  const auto expect_error = [&](const io::TensorDict& state, const std::string& text) {
    try {
      sam::reference_prob_sam_state_dict(state, config_, "ckpt.pt");
      ADD_FAILURE() << "no error; expected " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  io::TensorDict no_prior, foreign = prob_state(""), wrong_copy = prob_state("");
  for (const auto& [name, t] : prob_state(""))
    if (name.rfind("prior_net.", 0) != 0) no_prior.insert(name, t);
  expect_error(no_prior, "missing prior_net.*");
  foreign.insert("ema.weight", torch::zeros({1}));
  expect_error(foreign, "1 weights belong to no part of Probabilistic SAM: ema.weight");
  wrong_copy.insert("fcomb.decoder.iou_token.weight",
                    golden_.at("mask_decoder.iou_token.weight") + 1);
  expect_error(wrong_copy, "fcomb.decoder.* must be the same weights as sam.mask_decoder.*");
  expect_error(golden_, "not a Probabilistic SAM state dict");
}

}  // namespace
}  // namespace psam
