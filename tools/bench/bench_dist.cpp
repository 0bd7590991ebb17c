// Cost of data-parallel gradient synchronisation: seconds per training step (forward, backward,
// optimiser-free) of a SAM image encoder trained end to end, in one process and in two ranks on
// Gloo over localhost, one thread per rank, each rank with the same per-rank batch. The
// difference is what synchronisation costs per step; "exposed" is the part of it that backward
// did not hide (the wait in GradientSync::finish after the last gradient).
//
//   bench_dist [--model tiny|vit_b] [--img-size 256] [--steps 5] [--batch 1] [--bucket-mb 25]
//
// vit_b keeps ViT-B's widths and depth (the ~86M parameters the sync moves, less the position
// tables of the smaller grid) at a CPU-sized input. Started without RANK in the environment,
// the benchmark measures one process, then starts itself as two ranks.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>  // environ
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "psam/dist/gradient_sync.h"
#include "psam/dist/group.h"
#include "psam/dist/launch.h"
#include "psam/sam/config.h"
#include "psam/sam/sam.h"


namespace {
using namespace psam;

struct Args {
  std::string model = "vit_b";
  int img_size = 256;
  int steps = 5;
  int batch = 1;
  int bucket_mb = 25;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

sam::SamConfig encoder_config(const Args& a) {
  sam::SamConfig c = sam::preset("vit_b");
  if (a.model == "tiny") {
    c.patch_size = 8;
    c.encoder_embed_dim = 64;
    c.encoder_depth = 4;
    c.encoder_num_heads = 4;
    c.window_size = 4;
    c.encoder_global_attn_indexes = {1, 3};
    c.prompt_embed_dim = 64;
  }
  c.img_size = a.img_size;
  return c;
}

struct Timing {
  double step = 0, exposed = 0;
  int64_t parameters = 0, buckets = 0;
};

// Median seconds per step after one warm-up step.
Timing measure(const Args& a, dist::Group& group) {
  torch::manual_seed(0);
  auto encoder = sam::build_sam(encoder_config(a))->image_encoder;
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (const auto& p : encoder->named_parameters()) params.emplace_back(p.key(), p.value());
  std::unique_ptr<dist::GradientSync> sync;
  if (group.size() > 1)
    sync = std::make_unique<dist::GradientSync>(group, params, int64_t(a.bucket_mb) << 20);
  const auto x = torch::randn({a.batch, 3, a.img_size, a.img_size});
  std::vector<double> steps, exposed;
  for (int i = 0; i <= a.steps; ++i) {
    encoder->zero_grad();
    const double start = now();
    if (sync) sync->begin(1.0 / group.size());
    encoder->forward(x).pow(2).mean().backward();
    const double backward_done = now();
    if (sync) sync->finish();
    if (i == 0) continue;
    steps.push_back(now() - start);
    exposed.push_back(now() - backward_done);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  Timing t;
  t.step = median(steps);
  t.exposed = median(exposed);
  for (const auto& p : params) t.parameters += p.second.numel();
  t.buckets = sync ? sync->buckets() : 0;
  return t;
}

// Starts this binary as `world` ranks on localhost and waits for them.
int run_ranks(int world, char** argv) {
  const int port = 29500 + static_cast<int>(now()) % 1000;
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    for (const auto& kv : std::map<std::string, std::string>{
             {"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(world)},
             {"LOCAL_RANK", std::to_string(r)}, {"MASTER_ADDR", "127.0.0.1"},
             {"MASTER_PORT", std::to_string(port)}})
      env.push_back(kv.first + "=" + kv.second);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) != 0) {
      std::fprintf(stderr, "bench_dist: cannot start rank %d\n", r);
      return 1;
    }
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"data-parallel gradient sync cost"};
  app.add_option("--model", a.model)->check(CLI::IsMember({"tiny", "vit_b"}));
  app.add_option("--img-size", a.img_size);
  app.add_option("--steps", a.steps);
  app.add_option("--batch", a.batch);
  app.add_option("--bucket-mb", a.bucket_mb);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);
  const auto launch = dist::launch_from_environment();
  if (launch.world_size == 1) {
    const Timing one = measure(a, *dist::single_process_group());
    std::printf("%s encoder at %d px, batch %d per rank, 1 thread per rank, %.1fM parameters\n",
                a.model.c_str(), a.img_size, a.batch, one.parameters / 1e6);
    std::printf("  1 process : %.3f s/step\n", one.step);
    std::fflush(stdout);
    setenv("PSAM_BENCH_ONE_STEP", std::to_string(one.step).c_str(), 1);
    return run_ranks(2, argv);
  }
  dist::GroupOptions options;
  options.timeout_s = 600;
  auto group = dist::init_group(launch, options);
  const Timing two = measure(a, *group);
  if (group->is_main()) {
    const char* one = std::getenv("PSAM_BENCH_ONE_STEP");
    const double base = one ? std::atof(one) : 0;
    std::printf("  2 ranks   : %.3f s/step (%ld buckets of <= %d MiB): sync overhead %.3f s/step "
                "(%.0f%%), exposed after backward %.3f s\n",
                two.step, static_cast<long>(two.buckets), a.bucket_mb, two.step - base,
                base > 0 ? 100 * (two.step - base) / base : 0.0, two.exposed);
  }
  return 0;
}
