// The trainer on a tiny Probabilistic SAM: exact resume, non-finite steps, run directory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "psam/io/npy.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/train/checkpoint.h"
#include "psam/train/model_task.h"
#include "psam/train/trainer.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "train_fixture.h"

namespace psam::train {
namespace {
namespace fs = std::filesystem;

struct Outcome {
  TrainResult result;
  Checkpoint last;
  std::string metrics;
};

// A task that calls `hook(step)` before each training loss (not validation's), to look at the
// run directory mid-run.
class ObservedTask : public TrainTask {
 public:
  ObservedTask(TrainTask& inner, std::function<void(int64_t)> hook)
      : inner_(inner), hook_(std::move(hook)) {}
  torch::nn::Module& module() override { return inner_.module(); }
  NamedParameters trainable_parameters() override { return inner_.trainable_parameters(); }
  StepLoss loss(const data::Batch& batch, int64_t step, at::Generator generator) override {
    if (hook_ && inner_.module().is_training()) hook_(step);
    return inner_.loss(batch, step, generator);
  }
  void train_mode(bool on) override { inner_.train_mode(on); }
  void after_step(const NamedValues& terms) override { inner_.after_step(terms); }
  NamedValues state() const override { return inner_.state(); }
  void load_state(const NamedValues& state) override { inner_.load_state(state); }

 private:
  TrainTask& inner_;
  std::function<void(int64_t)> hook_;
};

// One "process": a fresh model, task and loaders on the store, then train() in run_dir.
Outcome train_once(const std::string& store_dir, const std::string& run_dir, TrainerOptions options,
                   const std::string& latent_net = "reference",
                   std::function<void(int64_t)> before_step = {}, const LossConfig& loss = {},
                   const data::AugmentOptions& augment = {}) {
  fs::create_directories(run_dir);
  auto store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(store_dir));
  data::LoaderOptions train_options = test::tiny_loader_options(true);
  train_options.augment = augment;
  data::Loader train_loader(store, store->split_indices("train"), train_options);
  data::Loader val_loader(store, store->split_indices("val"), test::tiny_loader_options(false));
  torch::manual_seed(1);
  const auto model = models::build_model(test::tiny_model(latent_net), torch::kCPU);
  ModelTask model_task(*model, loss);
  ObservedTask task(model_task, std::move(before_step));
  options.run_dir = run_dir;
  options.seed = 7;
  options.config_hash = "test";
  options.progress.tty = false;
  Outcome run;
  run.result = train(task, train_loader, &val_loader, options);
  if (fs::exists(run_dir + "/checkpoints/last.pt")) {
    run.last = read_checkpoint(run_dir + "/checkpoints/last.pt");
  }
  run.metrics = read_file(run_dir + "/metrics.jsonl");
  return run;
}

void expect_identical(const io::TensorDict& a, const io::TensorDict& b) {
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [name, tensor] : a) {
    EXPECT_TRUE(torch::equal(tensor, b.at(name))) << name << " differs";
  }
}

class TrainerTest : public test::TinyStoreTest {};

// The headline property: a run stopped at step k and resumed ends bit-identical to an
// uninterrupted run (weights, Adam state, RNG, metrics log), for a stop inside an epoch and at
// an epoch's end.
TEST_F(TrainerTest, ResumeIsBitExact) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  const Outcome full = train_once(store_, dir_.path() + "/full", options);
  ASSERT_EQ(full.result.status, TrainStatus::kFinished);
  ASSERT_EQ(full.result.steps, 16);  // 16 training samples, batch 2, 2 epochs
  EXPECT_EQ(full.result.epochs, 2);

  for (int64_t k : {3, 8}) {
    const std::string run_dir = dir_.path() + "/split" + std::to_string(k);
    TrainerOptions first = options;
    first.stop_at_step = k;
    const Outcome a = train_once(store_, run_dir, first);
    ASSERT_EQ(a.result.status, TrainStatus::kInterrupted);
    ASSERT_EQ(a.result.steps, k);
    // Another process: its global RNG is elsewhere; the checkpoint must restore it.
    torch::manual_seed(999);
    torch::rand({10});
    TrainerOptions second = options;
    second.resume = true;
    const Outcome b = train_once(store_, run_dir, second);
    ASSERT_EQ(b.result.status, TrainStatus::kFinished);
    EXPECT_EQ(b.result.steps, 16);
    expect_identical(b.last.model, full.last.model);
    expect_identical(b.last.optimizer, full.last.optimizer);
    EXPECT_TRUE(torch::equal(b.last.rng_train, full.last.rng_train));
    EXPECT_EQ(b.last.state.best.value, full.last.state.best.value);
    EXPECT_EQ(b.metrics, full.metrics) << "split at " << k;
  }
  // The runs really trained: the weights moved from their initial values.
  torch::manual_seed(1);
  const auto fresh = io::state_dict(models::build_model(test::tiny_model(), torch::kCPU)->module());
  EXPECT_FALSE(torch::equal(fresh.at("sam.mask_decoder.mask_tokens.weight"),
                            full.last.model.at("sam.mask_decoder.mask_tokens.weight")));
}

// With augmentation on, the draws are functions of (seed, epoch, position): a resumed run meets
// the same augmented batches and ends bit-identical.
TEST_F(TrainerTest, ResumeWithAugmentationIsBitExact) {
  data::AugmentOptions augment;
  augment.flip_x = augment.flip_y = augment.rot90 = 0.5;
  augment.affine = {0.5, 20, {0.9, 1.1}, 0.05};
  augment.elastic = {0.3, 1.0, 3};
  augment.gamma = {0.3, {0.7, 1.5}};
  augment.noise = {0.3, {0.0, 0.05}};
  TrainerOptions options;
  options.config = test::tiny_train_config();
  const Outcome plain = train_once(store_, dir_.path() + "/plain", options);
  const Outcome full =
      train_once(store_, dir_.path() + "/aug_full", options, "reference", {}, {}, augment);
  ASSERT_EQ(full.result.status, TrainStatus::kFinished);
  EXPECT_NE(full.metrics, plain.metrics) << "augmentation changed nothing";
  const std::string run_dir = dir_.path() + "/aug_split";
  TrainerOptions first = options;
  first.stop_at_step = 5;
  ASSERT_EQ(train_once(store_, run_dir, first, "reference", {}, {}, augment).result.status,
            TrainStatus::kInterrupted);
  torch::manual_seed(999);
  TrainerOptions second = options;
  second.resume = true;
  const Outcome b = train_once(store_, run_dir, second, "reference", {}, {}, augment);
  ASSERT_EQ(b.result.status, TrainStatus::kFinished);
  expect_identical(b.last.model, full.last.model);
  expect_identical(b.last.optimizer, full.last.optimizer);
  EXPECT_EQ(b.metrics, full.metrics);
}

// With GECO on, the multiplier and C's moving average are part of the run: a run stopped and
// resumed ends bit-identical (weights, lambda, metrics) to the uninterrupted one.
TEST_F(TrainerTest, ResumeWithGecoIsBitExact) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  LossConfig geco;
  geco.kl_control = KlControl::kGeco;
  geco.geco.kappa = 1.0;  // below the tiny model's BCE + Dice: lambda rises
  geco.geco.alpha = 0.9;
  geco.geco.speed = 0.5;
  const Outcome full = train_once(store_, dir_.path() + "/full", options, "reference", {}, geco);
  ASSERT_EQ(full.result.status, TrainStatus::kFinished);
  ASSERT_EQ(full.last.task.size(), 3u);
  EXPECT_EQ(full.last.task[0].first, "geco_lambda");
  EXPECT_GT(full.last.task[0].second, 1.0);
  EXPECT_EQ(full.last.task[2], (std::pair<std::string, double>{"geco_updates", 16.0}));
  EXPECT_NE(full.metrics.find("\"train/geco_lambda\""), std::string::npos);
  EXPECT_NE(full.metrics.find("\"train/geco_c\""), std::string::npos);

  const std::string run_dir = dir_.path() + "/split";
  TrainerOptions first = options;
  first.stop_at_step = 5;
  const Outcome a = train_once(store_, run_dir, first, "reference", {}, geco);
  ASSERT_EQ(a.result.status, TrainStatus::kInterrupted);
  EXPECT_EQ(a.last.task[2], (std::pair<std::string, double>{"geco_updates", 5.0}));
  EXPECT_NE(a.last.task[0].second, full.last.task[0].second);
  torch::manual_seed(999);
  torch::rand({10});
  TrainerOptions second = options;
  second.resume = true;
  const Outcome b = train_once(store_, run_dir, second, "reference", {}, geco);
  ASSERT_EQ(b.result.status, TrainStatus::kFinished);
  expect_identical(b.last.model, full.last.model);
  expect_identical(b.last.optimizer, full.last.optimizer);
  EXPECT_EQ(b.last.task, full.last.task);
  EXPECT_EQ(b.metrics, full.metrics);

  // GECO changed the training: the weights differ from a run without it.
  const Outcome plain = train_once(store_, dir_.path() + "/plain", options);
  EXPECT_TRUE(plain.last.task.empty());
  int differing = 0;
  for (const auto& [name, t] : full.last.model)
    differing += !torch::equal(t, plain.last.model.at(name));
  EXPECT_GT(differing, 0);
}

// train.checkpoint_every_steps writes last.pt inside epochs; a process killed after such a
// checkpoint (simulated: the run directory as it was at the kill) resumes from it bit-exactly.
TEST_F(TrainerTest, MidEpochCheckpointsResumeBitExact) {
  TrainerOptions options;
  options.config = test::tiny_train_config();  // 8 steps per epoch, 2 epochs
  const Outcome full = train_once(store_, dir_.path() + "/full", options);
  ASSERT_EQ(full.result.steps, 16);

  options.config.checkpoint_every_steps = 3;
  const std::string run_dir = dir_.path() + "/killed";
  const std::string last = run_dir + "/checkpoints/last.pt";
  std::map<int64_t, int64_t> saved_step;  // step about to run -> step of last.pt then
  std::map<int64_t, std::string> snapshot;
  const Outcome a = train_once(store_, run_dir, options, "reference", [&](int64_t step) {
    if (saved_step.count(step) || !fs::exists(last)) return;
    saved_step[step] = read_checkpoint(last).state.step;
    snapshot[step] = read_file(last);
  });
  ASSERT_EQ(a.result.status, TrainStatus::kFinished);
  EXPECT_EQ(saved_step.count(2), 0u) << "no last.pt before the first 3 steps";
  // Every 3 steps, counted from the last write (the epoch's end at step 8 writes one too).
  const std::map<int64_t, int64_t> expected = {{3, 3},   {4, 3},   {5, 3},  {6, 6},   {7, 6},
                                               {8, 8},   {9, 8},   {10, 8}, {11, 11}, {12, 11},
                                               {13, 11}, {14, 14}, {15, 14}};
  EXPECT_EQ(saved_step, expected);

  for (const int64_t kill_at : {5, 13}) {  // after the step-3 and the step-11 checkpoint
    // The run directory as a kill -9 before step kill_at leaves it: last.pt from the last
    // periodic write, metrics.jsonl holding lines past it.
    const std::string killed = dir_.path() + "/resume" + std::to_string(kill_at);
    fs::copy(run_dir, killed, fs::copy_options::recursive);
    std::ofstream(killed + "/checkpoints/last.pt", std::ios::binary | std::ios::trunc)
        << snapshot.at(kill_at);
    const Checkpoint c = read_checkpoint(killed + "/checkpoints/last.pt");
    EXPECT_EQ(c.state.loader.batch, 3) << "a mid-epoch checkpoint";
    EXPECT_EQ(c.state.loader.epoch, kill_at < 8 ? 0 : 1);
    torch::manual_seed(999);  // another process
    torch::rand({10});
    TrainerOptions second = options;
    second.resume = true;
    const Outcome b = train_once(store_, killed, second);
    ASSERT_EQ(b.result.status, TrainStatus::kFinished);
    expect_identical(b.last.model, full.last.model);
    expect_identical(b.last.optimizer, full.last.optimizer);
    EXPECT_TRUE(torch::equal(b.last.rng_train, full.last.rng_train));
    EXPECT_EQ(b.metrics, full.metrics) << "killed before step " << kill_at;
  }
}

// train.checkpoint_every_minutes: a write whenever that much time has passed (here: always).
TEST_F(TrainerTest, CheckpointEveryMinutes) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  options.config.max_steps = 4;
  options.config.checkpoint_every_minutes = 1e-9;
  const std::string last = dir_.path() + "/run/checkpoints/last.pt";
  std::map<int64_t, int64_t> saved_step;
  train_once(store_, dir_.path() + "/run", options, "reference", [&](int64_t step) {
    if (!saved_step.count(step) && fs::exists(last))
      saved_step[step] = read_checkpoint(last).state.step;
  });
  EXPECT_EQ(saved_step, (std::map<int64_t, int64_t>{{1, 1}, {2, 2}, {3, 3}}));
}

// The progress line drawn at the end shows the final step's learning rate and loss terms, not
// those of the last line drawn before (here the first step's: lines are 1e9 s apart).
TEST_F(TrainerTest, FinalProgressLineShowsTheFinalStep) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  std::ostringstream lines;
  options.progress.out = &lines;
  options.progress.log_every_s = 1e9;
  const Outcome run = train_once(store_, dir_.path() + "/run", options);
  ASSERT_EQ(run.result.status, TrainStatus::kFinished);
  nlohmann::json last;
  std::istringstream metrics(run.metrics);
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "step") last = j;
  }
  ASSERT_EQ(last["step"].get<int64_t>(), 16);
  char expected[64];
  std::snprintf(expected, sizeof expected, "lr=%.2e loss=%.4f bce=%.4f", last["lr"].get<double>(),
                last["train/loss"].get<double>(), last["train/bce"].get<double>());
  const std::string text = lines.str();
  const std::string final_line = text.substr(text.rfind("16/16"));
  EXPECT_NE(final_line.find(expected), std::string::npos) << expected << " in " << text;
}

// A full disk while logging (metrics.jsonl on /dev/full, which fails every write with ENOSPC):
// one error naming the file; the checkpoint written before stays as it was and loads.
TEST_F(TrainerTest, MetricsWriteFailureKeepsTheCheckpoint) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "needs /dev/full";
  TrainerOptions options;
  options.config = test::tiny_train_config();
  const std::string run_dir = dir_.path() + "/run";
  options.stop_at_step = 3;
  ASSERT_EQ(train_once(store_, run_dir, options).result.status, TrainStatus::kInterrupted);
  const std::string last = run_dir + "/checkpoints/last.pt";
  const std::string before = read_file(last);

  fs::remove(run_dir + "/metrics.jsonl");
  fs::create_symlink("/dev/full", run_dir + "/metrics.jsonl");
  options.stop_at_step = 0;
  options.resume = true;
  try {
    train_once(store_, run_dir, options);
    FAIL() << "the failed write went unnoticed";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find(run_dir + "/metrics.jsonl"), std::string::npos) << message;
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  }
  EXPECT_EQ(read_file(last), before);
  EXPECT_EQ(read_checkpoint(last).state.step, 3);
}

TEST_F(TrainerTest, RunDirectoryAndCheckpoints) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  options.config.epochs = 3;
  options.config.tensorboard = true;
  const std::string run_dir = dir_.path() + "/run";
  const Outcome run = train_once(store_, run_dir, options);
  EXPECT_EQ(run.result.status, TrainStatus::kFinished);
  EXPECT_TRUE(fs::exists(run_dir + "/checkpoints/best.pt"));
  // keep_epoch_checkpoints = 1: only the newest epoch file is left.
  EXPECT_TRUE(fs::exists(run_dir + "/checkpoints/epoch_003.pt"));
  EXPECT_FALSE(fs::exists(run_dir + "/checkpoints/epoch_002.pt"));
  EXPECT_FALSE(fs::exists(run_dir + "/checkpoints/epoch_001.pt"));
  EXPECT_FALSE(fs::is_empty(run_dir + "/tb"));
  // One step line per step (log_every_steps = 1) and one epoch line per epoch, with val loss.
  std::istringstream lines(run.metrics);
  int steps = 0, epochs = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "step") {
      ++steps;
      EXPECT_TRUE(j.contains("train/kl"));
      // Warm-up over 2 steps, then cosine down to min_lr = 0 at the last step.
      if (j["step"] == 1) {
        EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 0.5e-3);
      }
      if (j["step"] == 2) {
        EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 1e-3);
      }
      if (j["step"] == 24) {
        EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 0.0);
      }
    }
    if (j["kind"] == "epoch") {
      ++epochs;
      EXPECT_TRUE(j.contains("val/loss")) << line;
      EXPECT_TRUE(j.contains("train/loss")) << line;
    }
  }
  EXPECT_EQ(steps, 24);
  EXPECT_EQ(epochs, 3);
  // best.pt holds the epoch with the lowest val/loss.
  const Checkpoint best = read_checkpoint(run_dir + "/checkpoints/best.pt");
  EXPECT_EQ(best.state.best.epoch, run.result.best.epoch);
  EXPECT_EQ(best.state.step, 8 * run.result.best.epoch);
  EXPECT_EQ(run.last.state.best.value, run.result.best.value);
}

TEST_F(TrainerTest, EarlyStoppingAndUnknownMetric) {
  TrainerOptions options;
  options.config = test::tiny_train_config();
  options.config.epochs = 6;
  options.config.best_mode = MetricMode::kMax;
  options.config.best_metric = "val/constant";
  options.validation = [](int64_t) {
    return std::vector<std::pair<std::string, double>>{{"val/constant", 1.0}};
  };
  options.config.early_stop_patience = 2;
  const Outcome run = train_once(store_, dir_.path() + "/early", options);
  EXPECT_EQ(run.result.status, TrainStatus::kEarlyStopped);
  EXPECT_EQ(run.result.epochs, 3);  // best at epoch 1, then two validations without improvement
  EXPECT_EQ(run.result.best.epoch, 1);

  options.config.best_metric = "val/ged";
  options.config.early_stop_patience = 0;
  try {
    train_once(store_, dir_.path() + "/unknown", options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "train.best_metric 'val/ged' is not a validation metric; there are: val/loss, "
              "val/bce, val/dice, val/kl, val/constant");
  }
}

// A copy of the store with the images of `nan_indices` set to NaN (all when empty): the
// store's writer refuses NaN pixels, so images.npy is replaced in the copy.
std::string nan_store(const std::string& from, const std::string& to,
                      const std::vector<int64_t>& nan_indices) {
  fs::copy(from, to, fs::copy_options::recursive);
  at::Tensor images = data::DatasetStore::open(from).images().clone();
  if (nan_indices.empty()) {
    images.fill_(NAN);
  } else {
    for (int64_t i : nan_indices) images[i].fill_(NAN);
  }
  io::write_npy(to + "/images.npy", images);
  return to;
}

TEST_F(TrainerTest, NonFiniteStepsAreSkipped) {
  const auto store = data::DatasetStore::open(store_);
  const int64_t bad = store.split_indices("train").at(3);
  const std::string one_bad = nan_store(store_, dir_.path() + "/one_nan", {bad});
  TrainerOptions options;
  options.config = test::tiny_train_config();
  const Outcome run = train_once(one_bad, dir_.path() + "/one", options);
  EXPECT_EQ(run.result.status, TrainStatus::kFinished);
  EXPECT_EQ(run.result.skipped_steps, 2);  // the batch holding it, once per epoch
  EXPECT_EQ(run.result.steps, 14);
  for (const auto& [name, t] : run.last.model)
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
  EXPECT_NE(run.metrics.find("\"kind\":\"nonfinite\""), std::string::npos);
}

TEST_F(TrainerTest, RepeatedNonFiniteStopsWithCheckpointIntact) {
  const std::string run_dir = dir_.path() + "/run";
  TrainerOptions options;
  options.config = test::tiny_train_config();
  options.config.epochs = 1;
  ASSERT_EQ(train_once(store_, run_dir, options).result.status, TrainStatus::kFinished);
  const std::string before = read_file(run_dir + "/checkpoints/last.pt");

  // Continue the run for a second epoch on images that are all NaN.
  const std::string all_bad = nan_store(store_, dir_.path() + "/all_nan", {});
  options.config.epochs = 2;
  options.config.max_nonfinite_steps = 2;
  options.resume = true;
  const Outcome run = train_once(all_bad, run_dir, options);
  EXPECT_EQ(run.result.status, TrainStatus::kNonFinite);
  EXPECT_EQ(run.result.skipped_steps, 3);
  EXPECT_EQ(run.result.steps, 8);
  EXPECT_EQ(read_file(run_dir + "/checkpoints/last.pt"), before);
}

}  // namespace
}  // namespace psam::train
