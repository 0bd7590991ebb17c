// psam train stopped the way clusters stop jobs, run as a real child process: SIGTERM and SIGUSR1
// stop it resumable (exit status 75, last.pt written) and `--resume auto` then ends bit-identical
// to an uninterrupted run; so does a resume after kill -9 following a mid-epoch checkpoint; a
// second signal ends the process at once. Disk faults: a checkpoint write past a file-size limit
// (as a full disk) fails with one line naming last.pt and leaves the previous checkpoint as it
// was; an import past the limit leaves no store and no staging directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include "cli/child_process.h"
#include "cli/tiny_sam.h"
#include "psam/train/checkpoint.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;
using test::spawn;

// 16 training samples at batch 1: 16 steps per epoch, 2 epochs.
const std::string kPreemptionConfig = std::string(R"(
run: {name: ref, seed: 5, threads: 1, device: cpu}
model:
  latent_net: reference
  latent_dim: 3
  sam: )") + test::kTinySam + R"(
data:
  loader: {batch_size: 1}
train: {epochs: 2, lr: 1e-3, log_every_steps: 1, val_every_epochs: 0}
)";

constexpr int kResumable = 75;

int wait_for(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

int steps_logged(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir + "/metrics.jsonl", ec)) return 0;
  const std::string text = read_file(run_dir + "/metrics.jsonl");
  int n = 0;
  for (size_t at = text.find("\"kind\":\"step\""); at != std::string::npos;
       at = text.find("\"kind\":\"step\"", at + 1))
    ++n;
  return n;
}

template <typename Pred>
bool wait_until(Pred pred, double seconds = 120) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

void expect_same_tensors(const io::TensorDict& a, const io::TensorDict& b) {
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

class TrainPreemption : public ::testing::Test {
 protected:
  void SetUp() override {
    test::make_synthetic_store(dir_.file("store"));
    config_ = dir_.write("tiny.yaml", kPreemptionConfig);
  }
  // psam train CONFIG with the test's store and out_dir, run.name=name, and extra arguments.
  std::vector<std::string> train_args(const std::string& name,
                                      std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"train", config_, "data.store=" + dir_.file("store"),
                                     "run.out_dir=" + dir_.file("runs"), "run.name=" + name};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::string run_dir(const std::string& name) const { return dir_.file("runs/" + name); }
  int run(const std::vector<std::string>& args, const std::string& log, rlim_t fsize = 0) {
    return wait_for(spawn(args, dir_.file(log), fsize));
  }
  // The uninterrupted run every stopped-and-resumed one must equal.
  const train::Checkpoint& reference() {
    if (!reference_) {
      const int status = run(train_args("ref"), "ref.log");
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << describe_status(status) << "\n" << read_file(dir_.file("ref.log"));
      reference_ = train::read_checkpoint(run_dir("ref") + "/checkpoints/last.pt");
      EXPECT_EQ(reference_->state.step, 32);
    }
    return *reference_;
  }
  // Resumes run `name` with --resume auto; its final weights and Adam state must equal the
  // reference's.
  void resume_and_compare(const std::string& name, std::vector<std::string> extra = {}) {
    extra.push_back("--resume");
    extra.push_back("auto");
    const int status = run(train_args(name, extra), name + "_resume.log");
    const std::string log = read_file(dir_.file(name + "_resume.log"));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status) << "\n" << log;
    EXPECT_NE(log.find("resume: "), std::string::npos) << "--resume auto did not resume:\n" << log;
    const auto last = train::read_checkpoint(run_dir(name) + "/checkpoints/last.pt");
    EXPECT_EQ(last.state.step, 32);
    expect_same_tensors(last.model, reference().model);
    expect_same_tensors(last.optimizer, reference().optimizer);
    for (const auto& entry : fs::directory_iterator(run_dir(name) + "/checkpoints"))
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }

  support::TempDir dir_;
  std::string config_;
  std::optional<train::Checkpoint> reference_;
};

// Slurm's --signal (SIGUSR1) and its time limit or preemption (SIGTERM) stop a run like Ctrl-C:
// the step finishes, last.pt is written, the exit status says "stopped, resumable"; resuming
// continues bit-exactly.
TEST_F(TrainPreemption, SignalStopsResumableAndResumesBitExact) {
  reference();
  for (const int signal : {SIGTERM, SIGUSR1}) {
    const std::string name = signal == SIGTERM ? "term" : "usr1";
    SCOPED_TRACE(name);
    // --resume auto starts the run when there is none yet, as a job's first start does.
    const pid_t pid = spawn(train_args(name, {"--resume", "auto"}), dir_.file(name + ".log"));
    ASSERT_TRUE(wait_until([&] { return steps_logged(run_dir(name)) >= 3; }));
    ::kill(pid, signal);
    const int status = wait_for(pid);
    const std::string log = read_file(dir_.file(name + ".log"));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kResumable)
        << describe_status(status) << "\n" << log;
    EXPECT_NE(log.find("stopped, resumable after"), std::string::npos) << log;
    EXPECT_NE(log.find(std::string("stopped by ") + ::strsignal(signal)), std::string::npos)
        << log;
    const auto stopped = train::read_checkpoint(run_dir(name) + "/checkpoints/last.pt");
    EXPECT_GE(stopped.state.step, 3);
    EXPECT_LT(stopped.state.step, 32);
    resume_and_compare(name);
  }
}

// kill -9 gives no warning: what survives is the last mid-epoch checkpoint
// (train.checkpoint_every_steps), and resuming from it still ends bit-exactly.
TEST_F(TrainPreemption, KillAfterMidEpochCheckpointResumesBitExact) {
  reference();
  const std::string last = run_dir("killed") + "/checkpoints/last.pt";
  const pid_t pid = spawn(train_args("killed", {"train.checkpoint_every_steps=3"}),
                          dir_.file("killed.log"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(last); }));
  ::kill(pid, SIGKILL);
  const int status = wait_for(pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_status(status);
  const auto kept = train::read_checkpoint(last);
  EXPECT_EQ(kept.state.step % 3, 0) << "a periodic checkpoint";
  EXPECT_GT(kept.state.loader.batch, 0) << "written inside an epoch";
  EXPECT_LT(kept.state.step, 32);
  resume_and_compare("killed", {"train.checkpoint_every_steps=3"});
}

// While the first signal's stop is under way, a second one ends the process at once; last.pt is
// then absent or a complete checkpoint, never a partial one.
TEST_F(TrainPreemption, SecondSignalExitsAtOnce) {
  const pid_t pid = spawn(train_args("twice"), dir_.file("twice.log"));
  ASSERT_TRUE(wait_until([&] { return steps_logged(run_dir("twice")) >= 2; }));
  ::kill(pid, SIGTERM);
  int status = 0;
  // Until it has gone: standard signals do not queue, so one sent before the first is handled
  // would merge with it.
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGTERM);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
      << describe_status(status) << "\n" << read_file(dir_.file("twice.log"));
  const std::string last = run_dir("twice") + "/checkpoints/last.pt";
  if (fs::exists(last)) {
    EXPECT_NO_THROW(train::read_checkpoint(last));
  }
}

// A full disk while writing last.pt (here: a 64 KB file-size limit, the checkpoint being larger):
// one line naming the file, exit status 1, the previous checkpoint byte for byte, no temporary.
TEST_F(TrainPreemption, CheckpointWriteOnFullDiskKeepsThePrevious) {
  ASSERT_EQ(run(train_args("full", {"train.epochs=1"}), "full1.log"), 0)
      << read_file(dir_.file("full1.log"));
  const std::string last = run_dir("full") + "/checkpoints/last.pt";
  const std::string before = read_file(last);
  ASSERT_GT(before.size(), 64u * 1024) << "the test needs a checkpoint above the limit";

  const int status = run({"train", "--resume", run_dir("full"), "train.epochs=2",
                          "train.checkpoint_every_steps=4"},
                         "full2.log", 64 * 1024);
  const std::string log = read_file(dir_.file("full2.log"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << describe_status(status) << "\n" << log;
  const std::string error_line = log.substr(log.rfind("psam: error: "));
  EXPECT_EQ(error_line, "psam: error: cannot write " + last + ": write failed (disk full?)\n");
  EXPECT_EQ(read_file(last), before);
  EXPECT_EQ(train::read_checkpoint(last).state.step, 16);
  for (const auto& entry : fs::directory_iterator(run_dir("full") + "/checkpoints"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
}

// An import that fills the disk: an error naming the file, nothing at the output path and no
// staging directory left beside it.
TEST_F(TrainPreemption, ImportOnFullDiskLeavesNothing) {
  const std::string out = dir_.file("imports/synth");
  fs::create_directories(dir_.file("imports"));
  const int status =
      run({"data", "synth", out, "--n", "64", "--size", "64"}, "synth.log", 64 * 1024);
  const std::string log = read_file(dir_.file("synth.log"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << describe_status(status) << "\n" << log;
  EXPECT_NE(log.find("psam: error: "), std::string::npos) << log;
  EXPECT_NE(log.find(".npy"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_empty(dir_.file("imports"))) << "left behind in " << dir_.file("imports");
}

}  // namespace
}  // namespace psam::cli
