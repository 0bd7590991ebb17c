// Data-parallel training and evaluation on c10d with Gloo over loopback: ranks are real `psam`
// processes started the way torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), or srun (SLURM_PROCID, SLURM_NTASKS).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/tiny_sam.h"
#include "psam/dist/group.h"
#include "psam/io/state_dict.h"
#include "psam/train/checkpoint.h"
#include "psam/util/fs.h"
#include "support/processes.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A deterministic tiny SAM (no latent draws), per-sample Dice so the loss is a mean over
// samples, AdamW with weight decay and gradient clipping; one thread per rank.
const std::string kConfig = std::string(R"(
run: {seed: 5, threads: 1, device: cpu}
model:
  latent_net: none
  sam: )") + test::kTinySam + R"(
loss: {dice_mode: per_sample}
data:
  loader: {batch_size: 2, box_jitter: 0.1}
train: {epochs: 2, optimizer: adamw, lr: 1.0e-4, weight_decay: 0.01, grad_clip: 0.05,
        log_every_steps: 1, val_every_epochs: 1, best_metric: val/loss}
dist: {timeout_s: 20}
)";

bool has_distributed() { return !dist::available_backends().empty(); }

class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir();
    // 26 patches: 18 train, so the last global batch of 4 splits 2 + 0 over two ranks.
    test::make_synthetic_store(dir_->file("store"), 26);
    dir_->write("tiny.yaml", kConfig);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!has_distributed()) GTEST_SKIP() << "this build has no distributed backend";
  }

  // `world` ranks of `psam args...` (world 0: one plain process without the variables).
  std::vector<std::unique_ptr<support::Child>> launch(int world, const std::vector<std::string>& args,
                                                      const std::string& name,
                                                      bool slurm = false) {
    std::vector<std::unique_ptr<support::Child>> ranks;
    const int port = support::free_port();
    for (int r = 0; r < std::max(world, 1); ++r) {
      std::map<std::string, std::string> env;
      if (world > 0) {
        env = slurm ? std::map<std::string, std::string>{{"SLURM_PROCID", std::to_string(r)},
                                                         {"SLURM_NTASKS", std::to_string(world)},
                                                         {"SLURM_LOCALID", std::to_string(r)}}
                    : std::map<std::string, std::string>{{"RANK", std::to_string(r)},
                                                         {"WORLD_SIZE", std::to_string(world)},
                                                         {"LOCAL_RANK", std::to_string(r)}};
        env["MASTER_ADDR"] = "127.0.0.1";
        env["MASTER_PORT"] = std::to_string(port);
      }
      std::vector<std::string> argv = {PSAM_BINARY};
      argv.insert(argv.end(), args.begin(), args.end());
      ranks.push_back(std::make_unique<support::Child>(
          argv, env, dir_->file(name + ".rank" + std::to_string(r) + ".log")));
      EXPECT_TRUE(ranks.back()->started());
    }
    return ranks;
  }

  std::vector<std::string> train_args(const std::string& name, int64_t batch,
                                      std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"train", dir_->file("tiny.yaml"),
                                  "data.store=" + dir_->file("store"),
                                  "run.out_dir=" + dir_->file("runs"), "run.name=" + name,
                                  "data.loader.batch_size=" + std::to_string(batch),
                                  "train.embedding_cache_dir=" + dir_->file("cache")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static void expect_all_exit(std::vector<std::unique_ptr<support::Child>>& ranks, int code) {
    for (size_t r = 0; r < ranks.size(); ++r) {
      EXPECT_EQ(ranks[r]->wait(), code) << "rank " << r << ":\n" << ranks[r]->output();
    }
  }

  std::string run_dir(const std::string& name) const { return dir_->file("runs/" + name); }

  static support::TempDir* dir_;
};
support::TempDir* Distributed::dir_ = nullptr;

void expect_close(const io::TensorDict& a, const io::TensorDict& b, double tolerance) {
  ASSERT_EQ(a.keys(), b.keys());
  double worst = 0;
  for (const auto& [name, t] : a) {
    worst = std::max(worst, (t.to(torch::kDouble) - b.at(name).to(torch::kDouble)).abs().max().item<double>());
  }
  EXPECT_LE(worst, tolerance);
  std::cout << "max |a - b| = " << worst << "\n";
}

// Checkpoints are renamed into place, so a file that exists is whole.
void wait_for_file(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline && !fs::exists(path))
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(fs::exists(path)) << path << " did not appear within 120 s";
}

std::vector<nlohmann::json> lines_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Two ranks of batch 2 take the same steps as one process of batch 4: weights and AdamW state
// agree to float rounding (the sums of two half-batch gradients are not bit-equal to one sum).
TEST_F(Distributed, TwoRanksEqualOneProcessWithTheDoubleBatch) {
  auto one = launch(0, train_args("one", 4, {"train.epochs=1"}), "one");
  expect_all_exit(one, 0);
  auto two = launch(2, train_args("two", 2, {"train.epochs=1"}), "two");
  expect_all_exit(two, 0);
  const auto a = train::read_checkpoint(run_dir("one") + "/checkpoints/last.pt");
  const auto b = train::read_checkpoint(run_dir("two") + "/checkpoints/last.pt");
  EXPECT_EQ(a.state.step, 5);  // 5 global batches, the last one short
  EXPECT_EQ(b.state.step, a.state.step);
  expect_close(a.model, b.model, 1e-6);
  expect_close(a.optimizer, b.optimizer, 1e-6);
  // The logged global means agree too, and rank 0 alone wrote them.
  const auto la = lines_of(run_dir("one") + "/metrics.jsonl");
  const auto lb = lines_of(run_dir("two") + "/metrics.jsonl");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    if (la[i]["kind"] != "step") continue;
    EXPECT_NEAR(la[i]["train/loss"].get<double>(), lb[i]["train/loss"].get<double>(), 1e-5) << i;
  }
  EXPECT_NEAR(la.back()["val/loss"].get<double>(), lb.back()["val/loss"].get<double>(), 1e-5);
  EXPECT_EQ(b.rng_train_ranks.size(), 2u);
}

// Gradient accumulation over ranks: two ranks of batch 1 accumulating 2 batches per step take
// the steps of one process of batch 4 (18 samples: groups of 4, 4, 4, 4 and a short 2), with
// gradients sent once per group; also with activation checkpointing.
TEST_F(Distributed, AccumulatingRanksEqualOneProcessWithTheWholeBatch) {
  auto one = launch(0, train_args("acc_one", 4, {"train.epochs=1"}), "acc_one");
  expect_all_exit(one, 0);
  auto two = launch(2, train_args("acc_two", 1, {"train.epochs=1", "train.accumulate_steps=2"}),
                    "acc_two");
  expect_all_exit(two, 0);
  const auto a = train::read_checkpoint(run_dir("acc_one") + "/checkpoints/last.pt");
  const auto b = train::read_checkpoint(run_dir("acc_two") + "/checkpoints/last.pt");
  EXPECT_EQ(a.state.step, 5);
  EXPECT_EQ(b.state.step, a.state.step);
  expect_close(a.model, b.model, 1e-6);
  expect_close(a.optimizer, b.optimizer, 1e-6);
  // The same with the decoder's activations recomputed in backward (the embedding cache on).
  auto recomputed = launch(2, train_args("acc_ckpt", 1, {"train.epochs=1", "train.accumulate_steps=2",
                                                         "train.activation_checkpointing=[mask_decoder]"}),
                           "acc_ckpt");
  expect_all_exit(recomputed, 0);
  const auto c = train::read_checkpoint(run_dir("acc_ckpt") + "/checkpoints/last.pt");
  expect_close(a.model, c.model, 1e-6);
  const auto la = lines_of(run_dir("acc_one") + "/metrics.jsonl");
  const auto lb = lines_of(run_dir("acc_two") + "/metrics.jsonl");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    if (la[i]["kind"] != "step") continue;
    EXPECT_NEAR(la[i]["train/loss"].get<double>(), lb[i]["train/loss"].get<double>(), 1e-5) << i;
  }
}

TEST_F(Distributed, SlurmVariablesLaunchTheSameRun) {
  auto ranks = launch(2, train_args("slurm", 2, {"train.epochs=1"}), "slurm", /*slurm=*/true);
  expect_all_exit(ranks, 0);
  EXPECT_TRUE(fs::exists(run_dir("slurm") + "/checkpoints/last.pt"));
  EXPECT_NE(ranks[0]->output().find("rank 0 of 2 (slurm)"), std::string::npos) << ranks[0]->output();
}

// A two-rank run stopped after an epoch and resumed (as a new pair of processes) ends
// bit-identical to an uninterrupted one: weights, AdamW state and every rank's generator.
// Rank 0 alone writes the run's files.
TEST_F(Distributed, ResumedTwoRankRunIsBitExactAndRankZeroAloneWrites) {
  auto full = launch(2, train_args("full", 2), "full");
  expect_all_exit(full, 0);
  auto part = launch(2, train_args("part", 2, {"train.epochs=1"}), "part1");
  expect_all_exit(part, 0);
  // The second half, as a resumed run asked for one more epoch.
  auto rest = launch(2, {"train", "--resume", run_dir("part"), "train.epochs=2"}, "part2");
  expect_all_exit(rest, 0);
  const auto a = train::read_checkpoint(run_dir("full") + "/checkpoints/last.pt");
  const auto b = train::read_checkpoint(run_dir("part") + "/checkpoints/last.pt");
  expect_close(a.model, b.model, 0.0);
  expect_close(a.optimizer, b.optimizer, 0.0);
  ASSERT_EQ(b.rng_train_ranks.size(), 2u);
  EXPECT_TRUE(torch::equal(a.rng_train_ranks[1], b.rng_train_ranks[1]));
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(run_dir("full")))
    files.push_back(fs::relative(e.path(), run_dir("full")).string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"checkpoints", "checkpoints/best.pt",
                                             "checkpoints/last.pt",
                                             "config.yaml", "metrics.jsonl", "train.log"}));
}

// Killing both ranks mid-run and resuming from the last checkpoint gives the same weights as
// the uninterrupted run.
TEST_F(Distributed, KilledRunResumesFromItsLastCheckpoint) {
  auto full = launch(2, train_args("kfull", 2, {"train.epochs=6"}), "kfull");
  expect_all_exit(full, 0);
  auto ranks = launch(2, train_args("killed", 2, {"train.epochs=6"}), "killed1");
  // Once the first epoch's last.pt exists, kill -9 both ranks.
  wait_for_file(run_dir("killed") + "/checkpoints/last.pt");
  for (auto& r : ranks) r->signal(SIGKILL);
  for (auto& r : ranks) EXPECT_EQ(r->wait(), 128 + SIGKILL) << "the run ended before the kill";
  ASSERT_TRUE(fs::exists(run_dir("killed") + "/checkpoints/last.pt"));
  auto rest = launch(2, {"train", "--resume", run_dir("killed")}, "killed2");
  expect_all_exit(rest, 0);
  const auto a = train::read_checkpoint(run_dir("kfull") + "/checkpoints/last.pt");
  const auto b = train::read_checkpoint(run_dir("killed") + "/checkpoints/last.pt");
  expect_close(a.model, b.model, 0.0);
}

// One rank dies: the other fails within the timeout, naming it, and the last checkpoint loads.
TEST_F(Distributed, LostRankIsNamedAndTheCheckpointSurvives) {
  auto ranks = launch(2, train_args("lost", 2, {"train.epochs=50"}), "lost");
  const std::string last = run_dir("lost") + "/checkpoints/last.pt";
  wait_for_file(last);
  ranks[1]->signal(SIGKILL);
  const auto start = std::chrono::steady_clock::now();
  const int status = ranks[0]->wait(60s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_NE(status, 0);
  EXPECT_NE(status, -1) << "rank 0 hung";
  EXPECT_NE(ranks[0]->output().find("lost rank 1"), std::string::npos) << ranks[0]->output();
  const auto c = train::read_checkpoint(last);
  EXPECT_GE(c.state.epoch, 1);
}

TEST_F(Distributed, IncompleteRendezvousFailsWithinTheTimeout) {
  auto ranks = launch(2, train_args("alone", 2, {"dist.timeout_s=3"}), "alone");
  ranks[1]->signal(SIGKILL);  // rank 1 never arrives
  ranks[1]->wait();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ranks[0]->wait(60s), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_NE(ranks[0]->output().find("did not complete within 3 s"), std::string::npos)
      << ranks[0]->output();
  EXPECT_FALSE(fs::exists(run_dir("alone") + "/config.yaml"));
}

// psam eval with two ranks writes the summary one process writes.
TEST_F(Distributed, EvalOverTwoRanksEqualsOneProcess) {
  auto run = launch(0, train_args("evalrun", 4, {"train.epochs=1"}), "evalrun");
  expect_all_exit(run, 0);
  const std::vector<std::string> eval = {"eval", "--run", run_dir("evalrun"), "--samples", "4",
                                         "--split", "test"};
  auto one_args = eval;
  one_args.insert(one_args.end(), {"--out", dir_->file("eval1")});
  auto one = launch(0, one_args, "eval1");
  expect_all_exit(one, 0);
  auto two_args = eval;
  two_args.insert(two_args.end(), {"--out", dir_->file("eval2")});
  auto two = launch(2, two_args, "eval2");
  expect_all_exit(two, 0);
  auto a = nlohmann::json::parse(read_file(dir_->file("eval1") + "/summary.json"));
  auto b = nlohmann::json::parse(read_file(dir_->file("eval2") + "/summary.json"));
  // Bit equality (unlike training): every case is scored alone, at the same thread count, in
  // either run, and the ranks' per-case rows are gathered (x + 0) into the one summary.
  EXPECT_EQ(a["metrics"], b["metrics"]);
  EXPECT_EQ(read_file(dir_->file("eval1") + "/per_case.csv"),
            read_file(dir_->file("eval2") + "/per_case.csv"));
}

}  // namespace
}  // namespace psam::cli
