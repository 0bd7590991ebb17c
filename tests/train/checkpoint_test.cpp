// Training checkpoints: round trip, Python readability, atomic replacement on a failing write.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "psam/io/pth.h"
#include "psam/train/checkpoint.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::train {
namespace {
namespace fs = std::filesystem;

Checkpoint sample_checkpoint(int64_t elements) {
  Checkpoint c;
  c.model.insert("sam.mask_decoder.iou_token.weight", torch::arange(elements, torch::kFloat));
  c.model.insert("prior_net.mu.bias", torch::tensor({1.5f, -2.0f}));
  c.optimizer_kind = "adamw";
  c.optimizer.insert("prior_net.mu.bias.step", torch::scalar_tensor(7, torch::kLong));
  c.optimizer.insert("prior_net.mu.bias.exp_avg", torch::tensor({0.1f, 0.2f}));
  c.optimizer.insert("prior_net.mu.bias.exp_avg_sq", torch::tensor({0.01f, 0.04f}));
  c.schedule_kind = "cosine";
  c.lr = 2.5e-5;
  c.state.epoch = 3;
  c.state.step = 41;
  c.state.loader = {3, 5};
  c.state.nonfinite_in_a_row = 1;
  c.state.epoch_sums = {{"loss", 4.25}, {"kl", 0.5}};
  c.state.epoch_batches = 5;
  c.state.best = {"val/loss", 0.125, 2, 1};
  c.rng_cpu = at::detail::getDefaultCPUGenerator().get_state();
  c.rng_train = at::make_generator<at::CPUGeneratorImpl>(3).get_state();
  c.config_hash = std::string(64, 'a');
  return c;
}

TEST(Checkpoint, RoundTrip) {
  support::TempDir dir;
  const std::string path = dir.file("last.pt");
  const Checkpoint c = sample_checkpoint(10);
  write_checkpoint(path, c);
  const Checkpoint r = read_checkpoint(path);
  EXPECT_EQ(r.model.keys(), c.model.keys());
  EXPECT_TRUE(torch::equal(r.model.at("prior_net.mu.bias"), c.model.at("prior_net.mu.bias")));
  EXPECT_EQ(r.optimizer.keys(), c.optimizer.keys());
  EXPECT_EQ(r.optimizer_kind, "adamw");
  EXPECT_EQ(r.schedule_kind, "cosine");
  EXPECT_EQ(r.lr, 2.5e-5);
  EXPECT_EQ(r.state.epoch, 3);
  EXPECT_EQ(r.state.step, 41);
  EXPECT_EQ(r.state.loader.epoch, 3);
  EXPECT_EQ(r.state.loader.batch, 5);
  EXPECT_EQ(r.state.nonfinite_in_a_row, 1);
  EXPECT_EQ(r.state.epoch_sums, c.state.epoch_sums);
  EXPECT_EQ(r.state.epoch_batches, 5);
  EXPECT_EQ(r.state.best.metric, "val/loss");
  EXPECT_EQ(r.state.best.value, 0.125);
  EXPECT_EQ(r.state.best.epoch, 2);
  EXPECT_EQ(r.state.best.stale, 1);
  EXPECT_TRUE(torch::equal(r.rng_cpu, c.rng_cpu));
  EXPECT_TRUE(torch::equal(r.rng_train, c.rng_train));
  EXPECT_FALSE(r.rng_cuda.defined());
  EXPECT_EQ(r.config_hash, c.config_hash);
  EXPECT_TRUE(r.task.empty()) << "no task state written, none read (checkpoints before it)";
  // A restored generator continues the same stream.
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(0);
  g.set_state(r.rng_train);
  at::Generator h = at::make_generator<at::CPUGeneratorImpl>(3);
  EXPECT_TRUE(torch::equal(at::rand({5}, g), at::rand({5}, h)));
}

// A task's state (e.g. GECO's lambda) comes back bit for bit, in its order.
TEST(Checkpoint, TaskStateRoundTrips) {
  support::TempDir dir;
  const std::string path = dir.file("last.pt");
  Checkpoint c = sample_checkpoint(3);
  c.task = {{"geco_lambda", std::exp(0.7)}, {"geco_c_ma", -1.0 / 3.0}, {"geco_updates", 41.0}};
  write_checkpoint(path, c);
  EXPECT_EQ(read_checkpoint(path).task, c.task);
}

TEST(Checkpoint, PythonLoadsIt) {
  if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  support::TempDir dir;
  const std::string path = dir.file("last.pt");
  write_checkpoint(path, sample_checkpoint(4));
  const std::string script = dir.write("check.py", "import torch, sys\n"
                                                   "c = torch.load(sys.argv[1])\n"
                                                   "m = c['model']['sam.mask_decoder.iou_token.weight']\n"
                                                   "print(m.tolist(), c['step'], c['loader']['batch'], "
                                                   "c['optimizer']['state']['prior_net.mu.bias.step'].item(), "
                                                   "c['train']['best']['value'], c['scheduler']['kind'])\n");
  EXPECT_EQ(support::run_python(script + " " + path), "[0.0, 1.0, 2.0, 3.0] 41 5 7 0.125 cosine\n");
}

TEST(Checkpoint, MissingEntryNamesIt) {
  support::TempDir dir;
  const std::string path = dir.file("x.pt");
  io::TensorDict plain;
  plain.insert("w", torch::ones({2}));
  io::write_pth(path, plain);
  try {
    read_checkpoint(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": not a psam training checkpoint: no 'model'");
  }
}

// A write that fails half-way (here: the file size limit, as a full disk would) leaves the
// previous checkpoint as it was and no temporary beside it.
TEST(Checkpoint, FailingWriteKeepsThePreviousFile) {
  support::TempDir dir;
  const std::string path = dir.file("last.pt");
  write_checkpoint(path, sample_checkpoint(10));
  const std::string before = read_file(path);
  // Made before the fork: the child runs no torch kernels (thread pools do not survive fork).
  const Checkpoint big = sample_checkpoint(1 << 20);  // 4 MB of weights

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // writes past the limit then fail with EFBIG instead
    const rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      write_checkpoint(path, big);
    } catch (const Error&) {
      ::_exit(3);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << "the oversized write should fail with a psam::Error";
  EXPECT_EQ(read_file(path), before);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
  EXPECT_EQ(read_checkpoint(path).state.step, 41);
}

}  // namespace
}  // namespace psam::train
