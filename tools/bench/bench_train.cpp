// Training speed with and without the embedding cache: optimiser steps per second of
// Probabilistic SAM (ViT-B at 1024 by default, frozen encoder, batch 1, random weights) on a
// small synthetic store, on CPU (and on CUDA when present). "cached" steps read the fp16
// embedding; the one-off cost of filling the cache is printed separately.
//
//   bench_train [--threads N] [--steps 3] [--model vit_b|tiny] [--latent reference|embedding]
#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "bench_steps.h"

#include "psam/data/loader/embedding_cache.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "psam/train/model_task.h"
#include "psam/train/optimizer.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {
namespace fs = std::filesystem;
using namespace psam;

struct Args {
  int threads = 2;
  int steps = 3;
  std::string model = "vit_b";
  std::string latent = "reference";
};


void run_bench(const Args& a, c10::Device device, const std::string& dir) {
  models::ModelConfig m = bench::prob_sam_config(a.model);
  m.prob.latent_net = prob::latent_net_kind_from_string(a.latent);
  torch::manual_seed(0);
  const auto model = models::build_model(m, device);
  const auto t = bench::time_cached_and_uncached_steps(*model, dir, a.steps, device);
  const double uncached = t.uncached, with_cache = t.cached, fill = t.fill_per_image;

  std::printf("%s %s@%ld latent=%s threads=%d: uncached %.3f steps/s (%.2f s/step), cached %.3f "
              "steps/s (%.3f s/step), speed-up %.1fx; filling the cache %.2f s/image\n",
              device.str().c_str(), a.model.c_str(), static_cast<long>(m.prob.sam.img_size),
              a.latent.c_str(), a.threads, 1 / uncached, uncached, 1 / with_cache, with_cache,
              uncached / with_cache, fill);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Training steps/s with and without the embedding cache"};
  app.add_option("--threads", a.threads, "libtorch threads (0: all cores)");
  app.add_option("--steps", a.steps, "timed optimiser steps");
  app.add_option("--model", a.model, "vit_b or tiny");
  app.add_option("--latent", a.latent, "reference or embedding");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  const std::string dir = (fs::temp_directory_path() / "psam_bench_train").string();
  bench::make_train_store(dir, 8);
  run_bench(a, c10::kCPU, dir);
  if (torch::cuda::is_available()) run_bench(a, c10::kCUDA, dir);
  fs::remove_all(dir);
  return 0;
}
