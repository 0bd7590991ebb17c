// Peak memory and time of one full fine-tuning step of Probabilistic SAM (encoder trained,
// reference latent nets, Adam) at 1024 px: for each model, batch size, activation checkpointing
// off/on and precision, one child process (a process's peak resident set only grows) runs a step
// after Adam's state exists, so the peak is a steady-state step's. Each child's data segment is
// capped at the machine's memory (RLIMIT_DATA; --limit-gib), so a configuration that does not fit
// fails with "does not fit" instead of swapping or waking the OOM killer. Prints one table.
//
//   bench_memory [--models vit_b,vit_h] [--batches 1,2] [--precisions fp32,bf16] [--threads 2]
//                [--limit-gib G] [--repeat R]
// With --repeat, each case runs R times, a row each: peaks vary between identical runs (the heap
// keeps freed blocks, as psam's commands run it, so fragmentation shows) and so do times.
#include <ATen/CPUGeneratorImpl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/version.h>

#include "bench_memory.h"
#include "bench_steps.h"

#include "psam/models/registry.h"
#include "psam/train/autocast.h"
#include "psam/train/model_task.h"
#include "psam/train/optimizer.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {
namespace fs = std::filesystem;
using namespace psam;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct Case {
  std::string model = "vit_b";
  int64_t batch = 1;
  bool checkpointing = false;
  std::string precision = "fp32";
};

// The machine's memory (MemTotal), in GiB.
double machine_gib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") return kib / (1024.0 * 1024.0);
    in.ignore(256, '\n');
  }
  return 0;
}

// In the child: one measured step; prints a JSON line.
int run_case(const Case& c, const std::string& store_dir) {
  nlohmann::json out = {{"model", c.model}, {"batch", c.batch},
                        {"checkpointing", c.checkpointing}, {"precision", c.precision}};
  try {
    models::ModelConfig m = bench::prob_sam_config(c.model);
    m.prob.trainable.image_encoder = true;
    torch::manual_seed(0);
    const auto model = models::build_model(m, c10::kCPU);
    models::ActivationCheckpointing parts;
    parts.image_encoder_stride = c.checkpointing ? 1 : 0;
    parts.mask_decoder = c.checkpointing;
    parts.latent_nets = c.checkpointing;
    model->set_activation_checkpointing(parts);
    model->module().train();
    const auto store =
        std::make_shared<const data::DatasetStore>(data::DatasetStore::open(store_dir));
    data::LoaderOptions o;
    o.batch_size = c.batch;
    model->prepare_loader(o, /*training=*/true);
    data::Loader loader(store, store->split_indices("train"), o);
    const data::Batch batch = *loader.next();
    train::ModelTask task(*model, train::LossConfig{});
    train::Optimizer optimizer(task.trainable_parameters(), train::TrainConfig{});
    // Adam's moments first (a step of zero gradients moves nothing), as in every step after
    // the first.
    for (auto& [name, p] : optimizer.parameters()) p.mutable_grad() = torch::zeros_like(p);
    optimizer.step();
    optimizer.zero_grad();
    out["resident_before_gib"] = static_cast<double>(bench::peak_memory_bytes(c10::kCPU)) / kGiB;
    const auto start = std::chrono::steady_clock::now();
    {
      train::StepLoss loss;
      {
        train::Bf16Autocast autocast(c.precision == "bf16", c10::kCPU);
        loss = task.loss(batch, 0, at::make_generator<at::CPUGeneratorImpl>(0));
      }
      loss.total.backward();
    }
    optimizer.step();
    out["step_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out["peak_gib"] = static_cast<double>(bench::peak_memory_bytes(c10::kCPU)) / kGiB;
    out["fits"] = true;
  } catch (const std::exception& e) {
    std::string what = e.what();
    out["fits"] = false;
    // ATen's "DefaultCPUAllocator: not enough memory: you tried to allocate N bytes."
    const auto at = what.find("you tried to allocate ");
    if (at != std::string::npos) {
      const double bytes = std::stod(what.substr(at + 22));
      what = fmt::format("an allocation of {:.2f} GiB failed", bytes / kGiB);
    }
    out["error"] = what.substr(0, what.find('\n'));
  }
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}

// Runs a case in a child process under the memory cap; its JSON line, or a line saying how it
// ended (killed: did not fit).
nlohmann::json spawn(const std::string& self, const Case& c, const std::string& store_dir,
                     int threads, double limit_gib) {
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) return {{"fits", false}, {"error", "pipe failed"}};
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fd[0]);
    dup2(pipe_fd[1], STDOUT_FILENO);
    const rlim_t cap = static_cast<rlim_t>(limit_gib * kGiB);
    const rlimit limit{cap, cap};
    setrlimit(RLIMIT_DATA, &limit);
    const std::vector<std::string> args = {
        self, "--child", "--store", store_dir, "--models", c.model, "--batches",
        std::to_string(c.batch), "--precisions", c.precision, "--threads", std::to_string(threads),
        "--checkpointing", c.checkpointing ? "on" : "off"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fd[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fd[0], buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  close(pipe_fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto line = text.rfind('{');
  if (line != std::string::npos) {
    auto j = nlohmann::json::parse(text.substr(line), nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) return j;
  }
  return {{"fits", false},
          {"error", WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                        : "exit status " + std::to_string(WEXITSTATUS(status))}};
}

// One case without and with checkpointing, a row each.
void run_pair(const std::string& self, const std::string& model, int64_t batch,
              const std::string& precision, const std::string& store, int threads,
              double limit_gib) {
  double off_peak = 0;
  for (const bool on : {false, true}) {
    const auto r = spawn(self, Case{model, batch, on, precision}, store, threads, limit_gib);
    const std::string head = fmt::format("{:<6} {:>5} {:<9} {:<13}", model, batch, precision,
                                         on ? "on" : "off");
    if (r.value("fits", false)) {
      const double peak = r["peak_gib"].get<double>();
      if (!on) off_peak = peak;
      const std::string ratio =
          on && off_peak > 0 ? fmt::format("{:.0f}%", 100 * peak / off_peak) : "";
      std::printf("%s %10.2f %10.2f %10.1f %9s\n", head.c_str(),
                  r["resident_before_gib"].get<double>(), peak, r["step_s"].get<double>(),
                  ratio.c_str());
    } else {
      std::printf("%s %10s %10s %10s   does not fit (%s)\n", head.c_str(), "-", "-", "-",
                  r.value("error", std::string("?")).substr(0, 60).c_str());
    }
    std::fflush(stdout);
  }
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string models = "vit_b,vit_h", batches = "1,2", precisions = "fp32", store, checkpointing;
  int threads = 2;
  int repeat = 1;
  double limit_gib = 0;
  bool child = false;
  CLI::App app{"Peak memory and time of a full fine-tuning step of Probabilistic SAM"};
  app.add_option("--models", models, "comma-separated SAM presets (vit_b, vit_l, vit_h, tiny)");
  app.add_option("--batches", batches, "comma-separated batch sizes");
  app.add_option("--precisions", precisions, "fp32 and/or bf16 (bf16: libtorch 2.x)");
  app.add_option("--threads", threads, "libtorch threads");
  app.add_option("--limit-gib", limit_gib, "memory cap of each step (default: the machine's)");
  app.add_option("--repeat", repeat, "runs of each case (a row each)");
  app.add_flag("--child", child)->group("");
  app.add_option("--store", store)->group("");
  app.add_option("--checkpointing", checkpointing)->group("");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(threads);
  if (child) {
    psam::reuse_freed_memory();  // as psam's commands run
    Case c{models, std::stoll(batches), checkpointing == "on", precisions};
    return run_case(c, store);
  }
  if (limit_gib <= 0) limit_gib = machine_gib();
  const std::string dir = (fs::temp_directory_path() / "psam_bench_memory").string();
  bench::make_train_store(dir, 4);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::printf("Probabilistic SAM, full fine-tuning step (encoder trained, reference latent nets, "
              "Adam; the preset's frame: 1024 px, tiny 128), CPU, %d threads, memory capped at "
              "%.1f GiB, libtorch %s. 'before': resident with the weights and Adam's state, "
              "'peak': the step's peak resident set\n",
              threads, limit_gib, TORCH_VERSION);
  std::printf("%-6s %5s %-9s %-13s %10s %10s %10s %9s\n", "model", "batch", "precision",
              "checkpointing", "before GiB", "peak GiB", "step s", "peak/off");
  std::fflush(stdout);
  for (const auto& model : split_list(models)) {
    for (const auto& b : split_list(batches)) {
      for (const auto& precision : split_list(precisions)) {
        for (int rep = 0; rep < repeat; ++rep)
          run_pair(self, model, std::stoll(b), precision, dir + "/store", threads, limit_gib);
      }
    }
  }
  fs::remove_all(dir);
  return 0;
}
