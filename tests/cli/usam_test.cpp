// USAM through the command line: psam train fits the heads on a frozen tiny SAM, psam eval
// reports their quality table next to SAM's IoU head (summary.json agrees with the printed
// table), and psam predict prints and writes the heads' scores for the mask.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "eval/eval_fixture.h"
#include "psam/io/image.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

constexpr const char* kUsamConfig = R"(model:
  kind: usam
  latent_net: none
  sam: {img_size: 32, patch_size: 8, encoder_embed_dim: 16, encoder_depth: 2,
        encoder_num_heads: 2, window_size: 2, encoder_global_attn_indexes: [1],
        prompt_embed_dim: 16, mask_in_chans: 4, decoder_depth: 1, decoder_num_heads: 2,
        decoder_mlp_dim: 32, iou_head_hidden_dim: 16}
  usam: {hidden: 32}
data:
  loader: {batch_size: 4}
train: {optimizer: sgd, lr: 0.05, weight_decay: 1.0e-3, epochs: 3, val_every_epochs: 0}
eval: {bootstrap_resamples: 50}
run: {device: cpu}
)";

TEST(UsamCli, TrainEvalAndPredictReportTheHeads) {
  support::TempDir dir;
  test::make_tiny_store(dir.file("store"));
  const std::string config = dir.write("usam.yaml", kUsamConfig);
  const std::string store = "data.store=" + dir.file("store");
  const auto train =
      test::run_cli({"train", config, store, "run.out_dir=" + dir.file("runs"), "run.name=usam"});
  ASSERT_EQ(train.rc, 0) << train.err;
  const std::string run = dir.file("runs/usam");

  const auto eval = test::run_cli({"eval", "--run", run, "--out", dir.file("eval")});
  ASSERT_EQ(eval.rc, 0) << eval.err;
  EXPECT_NE(eval.out.find("quality prediction"), std::string::npos) << eval.out;
  std::ifstream in(dir.file("eval/summary.json"));
  const auto summary = nlohmann::json::parse(in);
  ASSERT_TRUE(summary.contains("quality"));
  const auto& q = summary["quality"];
  for (const char* name :
       {"usam.iou", "usam.unsupervised_iou", "usam.task_gap", "usam.prompt_gap", "sam.iou_pred"}) {
    ASSERT_TRUE(q.contains(name)) << name;
    // One row per (test case, annotator).
    EXPECT_EQ(q[name]["count"].get<int64_t>(), 4 * summary["cases"].get<int64_t>()) << name;
  }
  EXPECT_TRUE(q["usam.task_gap"]["auroc"].is_null());  // a gap is no IoU
  EXPECT_NE(eval.out.find("sam.iou_pred"), std::string::npos);

  const std::string image = dir.file("image.png");
  io::write_image(image, (torch::arange(32 * 32) % 200).view({32, 32}).to(torch::kUInt8));
  const auto predict =
      test::run_cli({"predict", "--checkpoint", run + "/checkpoints/last.pt", "--image", image,
                     "--box", "8,8,20,22", "--samples", "1", "--out", dir.file("pred")});
  ASSERT_EQ(predict.rc, 0) << predict.err;
  EXPECT_NE(predict.out.find("usam.iou"), std::string::npos) << predict.out;
  std::ifstream pin(dir.file("pred/summary.json"));
  const auto info = nlohmann::json::parse(pin);
  const auto& scores = info["prior_mean"]["scores"];
  ASSERT_EQ(scores.size(), 5u);
  EXPECT_GT(scores["usam.iou"].get<double>(), 0);
  EXPECT_LT(scores["usam.iou"].get<double>(), 1);
  EXPECT_GE(scores["usam.prompt_gap"].get<double>(), -0.5);
  EXPECT_LE(scores["usam.prompt_gap"].get<double>(), 0.5);
}

TEST(UsamCli, ModelGapAgainstAnotherRunsSam) {
  support::TempDir dir;
  test::make_tiny_store(dir.file("store"));
  const std::string config = dir.write("usam.yaml", kUsamConfig);
  const std::string store = "data.store=" + dir.file("store");
  const std::string runs = "run.out_dir=" + dir.file("runs");
  // The larger SAM is the SAM part of another psam run, named by its directory.
  ASSERT_EQ(test::run_cli(
                {"train", config, store, runs, "run.name=larger", "train.epochs=1", "run.seed=9"})
                .rc,
            0);
  const auto train = test::run_cli({"train", config, store, runs, "run.name=gap", "train.epochs=1",
                                    "model.usam.model_gap_from=" + dir.file("runs/larger")});
  ASSERT_EQ(train.rc, 0) << train.err;
  EXPECT_NE(read_file(dir.file("runs/gap/metrics.jsonl")).find("train/mse_model_gap"),
            std::string::npos);

  const auto eval =
      test::run_cli({"eval", "--run", dir.file("runs/gap"), "--out", dir.file("eval")});
  ASSERT_EQ(eval.rc, 0) << eval.err;
  std::ifstream in(dir.file("eval/summary.json"));
  const auto summary = nlohmann::json::parse(in);
  const auto& gap = summary["quality"]["usam.model_gap"];
  EXPECT_EQ(gap["count"].get<int64_t>(), 4 * summary["cases"].get<int64_t>());
  EXPECT_TRUE(gap["auroc"].is_null());  // a gap is no IoU

  // A larger SAM that is gone by evaluation time is named, and nothing is written.
  std::filesystem::rename(dir.file("runs/larger"), dir.file("moved"));
  const auto missing =
      test::run_cli({"eval", "--run", dir.file("runs/gap"), "--out", dir.file("eval2")});
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.err.find("model.usam.model_gap_from"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("eval2/summary.json")));
}

}  // namespace
}  // namespace psam::cli
