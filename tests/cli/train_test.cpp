// psam train end to end, in-process: a tiny model on a small synthetic store, the run
// directory it writes, resuming to extend a run, and config errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "psam/train/checkpoint.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "cli/run_cli.h"
#include "cli/tiny_sam.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

using Result = test::CliResult;
using test::run_cli;

const std::string kConfig = std::string(R"(
run: {name: tiny, seed: 3, threads: 1, device: cpu}
model:
  latent_net: reference
  latent_dim: 3
  sam: )") + test::kTinySam + R"(
data:
  loader: {batch_size: 4}
train: {epochs: 1, lr: 1e-3, log_every_steps: 1}
)";

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TrainCommand, TrainsAndResumes) {
  support::TempDir dir;
  test::make_synthetic_store(dir.file("store"));
  const std::string config = dir.write("tiny.yaml", kConfig);
  const std::string out_dir = dir.file("runs");
  const Result r = run_cli({"train", config, "data.store=" + dir.file("store"),
                            "run.out_dir=" + out_dir});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string run_dir = out_dir + "/tiny";
  EXPECT_EQ(r.out.rfind(run_dir + ": finished after 4 steps (1 epochs)", 0), 0u) << r.out;
  for (const char* f : {"config.yaml", "train.log", "metrics.jsonl", "checkpoints/last.pt",
                        "checkpoints/best.pt"}) {
    EXPECT_TRUE(fs::exists(run_dir + "/" + f)) << f;
  }
  // The resolved config reads back; the checkpoints carry its hash (= sha256sum config.yaml).
  const std::string yaml = read_file(run_dir + "/config.yaml");
  EXPECT_NE(yaml.find("  store: " + dir.file("store")), std::string::npos);
  EXPECT_EQ(train::read_checkpoint(run_dir + "/checkpoints/last.pt").config_hash, sha256_hex(yaml));
  // The embedding cache was filled (frozen encoder, cache on by default).
  EXPECT_TRUE(fs::exists(out_dir + "/.embedding_cache"));
  auto lines = read_lines(run_dir + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 5u);  // 4 steps + 1 epoch
  EXPECT_EQ(lines.back()["kind"], "epoch");
  EXPECT_TRUE(lines.back().contains("val/loss"));
  // The evaluator's metrics on the val split (train.val_metrics), e.g. GED in [0, 2].
  ASSERT_TRUE(lines.back().contains("val/ged")) << lines.back().dump();
  EXPECT_GE(lines.back()["val/ged"].get<double>(), 0.0);
  EXPECT_LE(lines.back()["val/ged"].get<double>(), 2.0);

  // A second run under the same name is refused; --resume extends it by an epoch.
  const Result again = run_cli({"train", config, "data.store=" + dir.file("store"),
                                "run.out_dir=" + out_dir});
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.err.find("already holds a run; resume it with --resume"), std::string::npos);
  const Result resumed = run_cli({"train", "--resume", run_dir, "train.epochs=2"});
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("finished after 8 steps (2 epochs)"), std::string::npos)
      << resumed.out;
  lines = read_lines(run_dir + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines.back()["epoch"], 2);
  EXPECT_NE(read_file(run_dir + "/config.yaml").find("epochs: 2"), std::string::npos);

  // Python reads the checkpoint with torch.load.
  if (support::python_has("torch")) {
    const std::string script = dir.write("load.py",
                                         "import torch, sys\n"
                                         "c = torch.load(sys.argv[1])\n"
                                         "print(c['step'], c['epoch'], 'prior_net.' in "
                                         "' '.join(c['model']))\n");
    EXPECT_EQ(support::run_python(script + " " + run_dir + "/checkpoints/last.pt"), "8 2 True\n");
  }
}

// A resume that cannot take its overrides fails before changing the run: model keys are refused
// by name with both values; an override the checkpoint refuses (another optimizer) puts
// config.yaml back; a plain --resume then still works.
TEST(TrainCommand, AFailedResumeLeavesTheRunResumable) {
  support::TempDir dir;
  test::make_synthetic_store(dir.file("store"));
  const std::string config = dir.write("tiny.yaml", kConfig);
  const std::string run_dir = dir.file("runs/tiny");
  ASSERT_EQ(run_cli({"train", config, "data.store=" + dir.file("store"),
                     "run.out_dir=" + dir.file("runs")})
                .rc,
            0);
  const std::string yaml = read_file(run_dir + "/config.yaml");
  Result r = run_cli({"train", "--resume", run_dir, "model.latent_dim=8", "train.epochs=2"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("model.latent_dim: 3 -> 8"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(run_dir + "/config.yaml"), yaml);
  r = run_cli({"train", "--resume", run_dir, "train.optimizer=sgd", "train.epochs=2"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("sgd"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(run_dir + "/config.yaml"), yaml);
  r = run_cli({"train", "--resume", run_dir, "train.epochs=2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("finished after 8 steps (2 epochs)"), std::string::npos) << r.out;
}

// Changes the working directory for a scope (the tests of a suite share one process).
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(old_); }

 private:
  fs::path old_;
};

// Relative paths in a config are stored absolute, so the run works from any directory; a
// missing split or init_from file is reported before the run directory exists.
TEST(TrainCommand, RunsWorkFromAnyDirectoryAndMistakesLeaveNoRun) {
  support::TempDir dir;
  fs::create_directories(dir.file("work"));
  test::make_synthetic_store(dir.file("work/store"));
  const std::string config = dir.write("work/tiny.yaml", kConfig);
  {
    InDirectory in(dir.file("work"));
    for (const std::vector<std::string>& mistake :
         {std::vector<std::string>{"data.train_split=nope"},
          std::vector<std::string>{"model.init_from=missing.pth"}}) {
      std::vector<std::string> args = {"train", "tiny.yaml", "data.store=store",
                                       "run.out_dir=runs"};
      args.insert(args.end(), mistake.begin(), mistake.end());
      const Result r = run_cli(args);
      EXPECT_EQ(r.rc, 1) << mistake[0];
      EXPECT_NE(r.err.find(mistake[0].find("split") != std::string::npos ? "nope" : "missing.pth"),
                std::string::npos)
          << r.err;
      EXPECT_FALSE(fs::exists(dir.file("work/runs/tiny"))) << mistake[0];
    }
    ASSERT_EQ(run_cli({"train", "tiny.yaml", "data.store=store", "run.out_dir=runs"}).rc, 0);
  }
  const std::string yaml = read_file(dir.file("work/runs/tiny/config.yaml"));
  EXPECT_NE(yaml.find("  store: " + dir.file("work/store") + "\n"), std::string::npos) << yaml;
  const Result r = run_cli({"eval", "--run", dir.file("work/runs/tiny"), "--out",
                            dir.file("elsewhere")});
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST(TrainCommand, ConfigErrors) {
  support::TempDir dir;
  const std::string config = dir.write("tiny.yaml", kConfig);
  Result r = run_cli({"train", config, "train.optimiser=adam"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "psam: error: command line: unknown key 'train.optimiser' (did you mean "
                   "'train.optimizer'?)\n");
  r = run_cli({"train", config});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "psam: error: " + config + ": data.store is not set\n");
  r = run_cli({"train", config, "data.store=" + dir.file("none"), "run.out_dir=" + dir.file("r"),
               "train.lr=-1"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "psam: error: train.lr must be > 0, got -1\n");
  r = run_cli({"train", "--resume", dir.file("nowhere")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("no config.yaml there"), std::string::npos);
  r = run_cli({"train", config, "--print-config"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("  latent_net: reference  # prior/posterior nets"), std::string::npos);
  EXPECT_NE(r.out.find("  accumulate_steps: 1  # loader batches per optimiser step"),
            std::string::npos);
  // Options that the data or the method cannot take fail before a run directory exists.
  test::make_synthetic_store(dir.file("store"));
  const std::vector<std::string> base = {"train", config, "data.store=" + dir.file("store"),
                                         "run.out_dir=" + dir.file("r")};
  const auto refused = [&](const std::string& override_, const std::string& message) {
    std::vector<std::string> args = base;
    args.push_back(override_);
    const Result out = run_cli(args);
    EXPECT_EQ(out.rc, 1) << override_;
    EXPECT_EQ(out.err, "psam: error: " + message + "\n") << override_;
    EXPECT_FALSE(fs::exists(dir.file("r/tiny"))) << override_;
  };
  refused("run.precision=fp16",
          "run.precision fp16 trains on CUDA only (its gradient scaler guards fp16's narrow "
          "range); on the cpu use bf16 or fp32");
  refused("train.activation_checkpointing=[encoder]",
          "train.activation_checkpointing: unknown part 'encoder' (parts: image_encoder, "
          "mask_decoder, latent_nets)");
  refused("train.lr_mult.image_encoder=0.1",  // frozen in this config
          "train.lr_mult: 'image_encoder' matches no trained parameter; the trained parts start "
          "with: sam.prompt_encoder, sam.mask_decoder, prior_net.encoder, prior_net.fc_mu, "
          "prior_net.fc_log_sigma, posterior_net.encoder, posterior_net.fc_mu, "
          "posterior_net.fc_log_sigma, fcomb.z_projector");
}

}  // namespace
}  // namespace psam::cli
