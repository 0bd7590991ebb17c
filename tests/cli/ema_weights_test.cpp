// --weights ema end to end: a run trained with train.ema_decay validates both weights, and
// export, eval and predict read the checkpoint's average in place of the weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/run_cli.h"
#include "cli/tiny_sam.h"
#include "psam/io/safetensors.h"
#include "psam/train/checkpoint.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

using test::run_cli;

const std::string kEmaConfig = std::string(R"(
run: {name: ema, seed: 3, threads: 1, device: cpu}
model:
  latent_net: reference
  latent_dim: 3
  sam: )") + test::kTinySam + R"(
data:
  loader: {batch_size: 4}
train: {epochs: 2, lr: 1e-3, ema_decay: 0.5, best_metric: val_ema/loss}
eval: {samples: 2}
)";

TEST(EmaWeights, ExportEvalAndPredictReadTheAverage) {
  support::TempDir dir;
  test::make_synthetic_store(dir.file("store"));
  const std::string config = dir.write("ema.yaml", kEmaConfig);
  const std::string store = "data.store=" + dir.file("store");
  const auto trained = run_cli({"train", config, store, "run.out_dir=" + dir.file("runs")});
  ASSERT_EQ(trained.rc, 0) << trained.err;
  const std::string run = dir.file("runs/ema");
  const std::string metrics = read_file(run + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"val_ema/loss\""), std::string::npos);
  EXPECT_NE(metrics.find("\"val_ema/ged\""), std::string::npos);
  const train::Checkpoint best = train::read_checkpoint(run + "/checkpoints/best.pt");
  ASSERT_FALSE(best.ema.empty());

  // The export of the average holds the EMA of every trained tensor and the weights of the rest.
  const std::string averaged = dir.file("ema.safetensors"), plain = dir.file("plain.safetensors");
  ASSERT_EQ(run_cli({"export", run, "--weights", "ema", "--part", "psam", "--out", averaged}).rc, 0);
  ASSERT_EQ(run_cli({"export", run, "--part", "psam", "--out", plain}).rc, 0);
  const auto a = io::read_safetensors(averaged).tensors, p = io::read_safetensors(plain).tensors;
  int64_t differing = 0;
  for (const auto& [name, t] : best.model) {
    const at::Tensor& expected = best.ema.contains(name) ? best.ema.at(name) : t;
    EXPECT_TRUE(torch::equal(a.at(name), expected)) << name;
    EXPECT_TRUE(torch::equal(p.at(name), t)) << name;
    differing += !torch::equal(expected, t);
  }
  EXPECT_GT(differing, 0) << "the average differs from the weights";

  // eval writes the average's reports beside the weights'.
  ASSERT_EQ(run_cli({"eval", "--run", run, "--weights", "ema"}).rc, 0);
  ASSERT_EQ(run_cli({"eval", "--run", run}).rc, 0);
  EXPECT_TRUE(fs::exists(run + "/eval/test_ema/summary.json"));
  EXPECT_TRUE(fs::exists(run + "/eval/test/summary.json"));

  // A run trained without the average: a one-line error naming the checkpoint.
  const auto plain_run = run_cli({"train", config, store, "run.out_dir=" + dir.file("runs"),
                                  "run.name=plain", "train.ema_decay=0", "train.epochs=1",
                                  "train.best_metric=val/loss"});
  ASSERT_EQ(plain_run.rc, 0) << plain_run.err;
  const auto refused = run_cli({"export", dir.file("runs/plain"), "--weights", "ema", "--out",
                                dir.file("refused.safetensors")});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("runs/plain/checkpoints/best.pt: holds no EMA of the weights"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(dir.file("refused.safetensors")));
  EXPECT_EQ(run_cli({"export", run, "--weights", "average", "--out", dir.file("x.pt")}).rc, 1);
}

}  // namespace
}  // namespace psam::cli
