// psam train on a wide synthetic store (32 x 48 patches, SAM's frame 32 x 32) with validation:
// the validation loader feeds the method's loss, so its masks must be in the frame like the
// training loader's (they were left at image size, and the first validation stopped the run
// on every store whose width differs from the frame). Whether a trained model beats the prompt-only baseline is a
// measurement (docs/models.md, "The frame rules"), too long for a unit test on 2 cores.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

const char* kTinySam = R"(
run: {name: wide, seed: 1, threads: 2, device: cpu}
model:
  latent_net: none
  sam:
    img_size: 32
    patch_size: 4
    encoder_embed_dim: 32
    encoder_depth: 2
    encoder_num_heads: 2
    window_size: 4
    encoder_global_attn_indexes: [1]
    prompt_embed_dim: 32
    mask_in_chans: 8
    decoder_depth: 1
    decoder_num_heads: 2
    decoder_mlp_dim: 64
    iou_head_hidden_dim: 32
  trainable: {image_encoder: true}
data:
  loader: {batch_size: 8, annotators: random_one, prompt: union}
train:
  lr: 3.0e-3
  schedule: cosine
  warmup_steps: 10
  grad_clip: 1.0
  epochs: 2
  val_every_epochs: 1
  log_every_steps: 50
eval: {samples: 4, bootstrap_resamples: 50, figure_cases: 0}
)";

TEST(TrainNonSquare, ValidatesAndEvaluatesOnAWideStore) {
  support::TempDir dir;
  const std::string store = dir.file("store");
  ASSERT_EQ(test::run_cli({"data", "synth", store, "--n", "24", "--height", "32", "--width", "48",
                           "--radius-min", "3", "--radius-max", "8", "--per-patient", "1",
                           "--oracle", "0", "--seed", "4"})
                .rc,
            0);
  const std::string config = dir.write("wide.yaml", kTinySam);
  const auto trained = test::run_cli(
      {"train", config, "data.store=" + store, "run.out_dir=" + dir.file("runs")});
  ASSERT_EQ(trained.rc, 0) << trained.err;
  // Every epoch validated: the loss and the evaluator's metrics.
  std::ifstream metrics(dir.file("runs/wide/metrics.jsonl"));
  int64_t validated = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] != "epoch") continue;
    ASSERT_TRUE(j.contains("val/loss") && j.contains("val/dsc")) << line;
    ++validated;
  }
  EXPECT_EQ(validated, 2);
  const auto learned = test::run_cli({"eval", "--run", dir.file("runs/wide")});
  EXPECT_EQ(learned.rc, 0) << learned.err;
}

}  // namespace
}  // namespace psam::cli
