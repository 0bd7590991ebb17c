// The model config travels with the weights: for each shipped config, a model trained for a few
// steps is rebuilt by psam predict, psam eval --checkpoint and psam export with no shape flags,
// and gives the same samples (same seed) as the model built in-process from the run's
// config.yaml with the checkpoint's weights. The ViT-B configs keep every model field but a tiny
// SAM shape, and the LIDC Probabilistic U-Net narrow filters, so they train in seconds.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "config/config.h"
#include "psam/data/store/store.h"
#include "psam/eval/evaluator.h"
#include "psam/io/image.h"
#include "psam/io/npy.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/train/checkpoint.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;
using test::run_cli;

constexpr int64_t kSamples = 4;
constexpr uint64_t kSeed = 9;
const char* kBox = "6,7,25,22";

// Overrides that give a ViT-B config the tiny SAM of the tests (every other field stays).
std::vector<std::string> tiny_sam_overrides() {
  return {"model.sam.img_size=64",         "model.sam.patch_size=8",
          "model.sam.encoder_embed_dim=16", "model.sam.encoder_depth=2",
          "model.sam.encoder_num_heads=2",  "model.sam.window_size=2",
          "model.sam.encoder_global_attn_indexes=[1]", "model.sam.prompt_embed_dim=16",
          "model.sam.mask_in_chans=4",      "model.sam.decoder_num_heads=2",
          "model.sam.decoder_mlp_dim=32",   "model.sam.iou_head_hidden_dim=16"};
}

class ModelRoundTrip : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir();
    test::make_synthetic_store(dir_->file("store"));
    // A grey PNG of a store image: predict's input.
    const auto store = data::DatasetStore::open(dir_->file("store"));
    const at::Tensor hu = store.images()[0];
    const at::Tensor grey = ((hu + 1350) / 1500).clamp(0, 1).mul(255).round().to(torch::kUInt8);
    io::write_image(dir_->file("input.png"), grey.unsqueeze(-1).expand({-1, -1, 3}).contiguous());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    name_ = GetParam();
    run_ = dir_->file("runs/" + name_);
    std::vector<std::string> args = {"train",
                                     std::string(PSAM_SOURCE_DIR) + "/configs/" + name_ + ".yaml",
                                     "data.store=" + dir_->file("store"),
                                     "run.out_dir=" + dir_->file("runs"),
                                     "run.threads=1",
                                     "model.init_from=\"\"",
                                     "data.loader.batch_size=2",
                                     "train.epochs=1",
                                     "train.max_steps=2",
                                     "train.val_every_epochs=0"};
    if (name_.find("vitb") != std::string::npos) {
      for (const auto& o : tiny_sam_overrides()) args.push_back(o);
    }
    if (name_ == "probunet_lidc") args.push_back("model.prob_unet.num_filters=[4,8]");
    if (!fs::exists(run_ + "/checkpoints/last.pt")) {
      const auto r = run_cli(args);
      ASSERT_EQ(r.rc, 0) << r.err;
    }
    config_ = config::load<config::Config>(run_ + "/config.yaml");
    // The in-process model: the run's config, the checkpoint's weights.
    model_ = models::registry_entry(config_.model.kind).make(config_.model);
    io::load_state_dict(model_->module(), train::read_checkpoint(last()).model, "", last());
    model_->module().eval();
  }

  std::string last() const { return run_ + "/checkpoints/last.pt"; }

  // The in-process model's mean foreground probability on input.png, as predict computes it.
  at::Tensor expected_mean() {
    data::LoaderOptions options = config_.data.loader;
    // A PNG is read as 0..255 values whatever window the model was trained with.
    if (options.intensity == data::IntensityMapping::kWindow)
      options.intensity = data::IntensityMapping::kAuto;
    model_->prepare_loader(options, false);
    const auto batch = data::image_batch(io::read_image_rgb(dir_->file("input.png")),
                                         data::Intensity::kUint8, {6, 7, 25, 22}, options);
    torch::NoGradGuard no_grad;
    const auto out =
        model_->sample(batch, kSamples, at::make_generator<at::CPUGeneratorImpl>(kSeed));
    return out.logits.sigmoid().mean(0);
  }

  // psam predict --samples on `weights`; its mean probability map.
  at::Tensor predicted_mean(const std::string& weights, std::vector<std::string> extra = {}) {
    const std::string out = dir_->file("predict/" + name_ + "/" + fs::path(weights).filename().string());
    std::vector<std::string> args = {"predict",   "--checkpoint", weights,
                                     "--image",   dir_->file("input.png"),
                                     "--box",     kBox,
                                     "--samples", std::to_string(kSamples),
                                     "--seed",    std::to_string(kSeed),
                                     "--out",     out,
                                     "--force"};  // a run and its last.pt share a file name
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return r.rc == 0 ? io::read_npy(out + "/mean_probability.npy") : at::Tensor();
  }

  static support::TempDir* dir_;
  std::string name_, run_;
  config::Config config_;
  std::unique_ptr<models::Model> model_;
};
support::TempDir* ModelRoundTrip::dir_ = nullptr;

void expect_same(const at::Tensor& a, const at::Tensor& b) {
  ASSERT_TRUE(a.defined() && b.defined());
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-6);
}

TEST_P(ModelRoundTrip, CheckpointStoresTheResolvedModelSection) {
  const auto c = train::read_checkpoint(last());
  ASSERT_FALSE(c.model_config.empty());
  EXPECT_EQ(models::model_config_from_json(c.model_config, last()), config_.model);
  EXPECT_FALSE(c.preprocessing.empty());
}

TEST_P(ModelRoundTrip, PredictRebuildsTheTrainedModel) {
  expect_same(predicted_mean(last()), expected_mean());
  expect_same(predicted_mean(run_ + "/checkpoints/last.pt"), expected_mean());
}

TEST_P(ModelRoundTrip, EvalCheckpointEqualsTheInProcessEvaluation) {
  const std::string out = dir_->file("eval/" + name_);
  const auto r = run_cli({"eval", "--checkpoint", last(), "--store", dir_->file("store"),
                          "--samples", std::to_string(kSamples), "--out", out,
                          "eval.figure_cases=0", "eval.bootstrap_resamples=10"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  const auto store = data::DatasetStore::open(dir_->file("store"));
  eval::EvalConfig e = config_.eval;
  e.samples = kSamples;
  e.figure_cases = 0;
  e.bootstrap_resamples = 10;
  e.preprocessing = config_.data.loader;
  const auto expected = eval::evaluate(*model_, store, store.split_indices(e.split), e);
  // Bit equality: the same evaluate() on the same weights, in this process at its thread count.
  EXPECT_EQ(summary["metrics"]["ged"]["mean"].get<double>(), expected.stat("ged").mean);
  EXPECT_EQ(summary["metrics"]["hm_iou"]["mean"].get<double>(), expected.stat("hm_iou").mean);
  EXPECT_EQ(summary["model"]["model_kind"], config_.model.kind);
}

TEST_P(ModelRoundTrip, ExportsRebuildTheTrainedModel) {
  const std::string psam = dir_->file("export/" + name_ + "_psam.pth");
  fs::create_directories(fs::path(psam).parent_path());
  auto r = run_cli({"export", run_, "--part", "psam", "--out", psam});
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(predicted_mean(psam), expected_mean());
  const auto card = nlohmann::json::parse(read_file(psam + ".json"));
  EXPECT_EQ(models::model_config_from_json(card["model_config"].dump(), "card"), config_.model);

  // Every layout the method exports rebuilds it, but the official SAM layout of a method with
  // more than SAM (it holds the SAM alone).
  for (const auto& part : model_->export_parts()) {
    if (part.name == "sam" && !model_->deterministic()) continue;
    const std::string file = dir_->file("export/" + name_ + "_" + part.name + ".safetensors");
    r = run_cli({"export", run_, "--part", part.name, "--out", file});
    ASSERT_EQ(r.rc, 0) << r.err;
    expect_same(predicted_mean(file), expected_mean());
  }
}

INSTANTIATE_TEST_SUITE_P(ShippedConfigs, ModelRoundTrip,
                         ::testing::Values("probsam_synthetic_tiny", "sam_synthetic_tiny",
                                           "probsam_lidc_vitb", "sam_lidc_vitb",
                                           "probunet_synthetic_tiny", "probunet_lidc",
                                           "mcdropout_synthetic_tiny", "mcdropout_lidc_vitb",
                                           "adaptersam_synthetic_tiny", "adaptersam_lidc_vitb",
                                           "uasam_synthetic_tiny", "uasam_lidc_vitb"));

class StoredConfigFlags : public ModelRoundTrip {};

// probsam_synthetic_tiny trains its latent nets at 32 px of a 64 px SAM: a flag saying otherwise
// is an error naming both values, and writes nothing.
TEST_P(StoredConfigFlags, ContradictingFlagNamesBothValues) {
  const std::string out = dir_->file("never");
  const auto r = run_cli({"predict", "--checkpoint", last(), "--image", dir_->file("input.png"),
                          "--box", kBox, "--samples", "2", "--latent-input-size", "0", "--out",
                          out});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("--latent-input-size 0 contradicts model.latent_input_size 32"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // The same value as stored is no contradiction.
  expect_same(predicted_mean(last(), {"--latent-input-size", "32"}), expected_mean());
}

// A checkpoint written before model configs were stored loads with the old flags and a warning
// that says how to re-save it; the re-saved file needs no flags.
TEST_P(StoredConfigFlags, OldCheckpointLoadsWithFlagsAndCanBeResaved) {
  train::Checkpoint c = train::read_checkpoint(last());
  c.model_config.clear();
  c.preprocessing.clear();
  const std::string old = dir_->file("old/last.pt");
  fs::create_directories(fs::path(old).parent_path());
  train::write_checkpoint(old, c);
  const std::string log_file = dir_->file("old/log.txt");
  log::add_file(log_file);
  // The window the model was trained with does not matter for a PNG input.
  // Its shape is read off the tensors, but for the decoder's head count, which no tensor shows.
  const std::string heads = std::to_string(config_.model.prob.sam.decoder_num_heads);
  const at::Tensor with_flags =
      predicted_mean(old, {"--latent-input-size", "32", "--decoder-heads", heads});
  log::close_files();
  expect_same(with_flags, expected_mean());
  const std::string logged = read_file(log_file);
  EXPECT_NE(logged.find("stores no model config"), std::string::npos) << logged;
  EXPECT_NE(logged.find("psam export " + old + " --part psam"), std::string::npos) << logged;

  const std::string resaved = dir_->file("old/resaved.pth");
  const auto r = run_cli({"export", old, "--part", "psam", "--latent-input-size", "32",
                          "--decoder-heads", heads, "--out", resaved});
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same(predicted_mean(resaved), expected_mean());
}

INSTANTIATE_TEST_SUITE_P(LatentInputSize, StoredConfigFlags,
                         ::testing::Values("probsam_synthetic_tiny"));

}  // namespace
}  // namespace psam::cli
