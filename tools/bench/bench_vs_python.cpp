// One psam case of tools/bench/vs_python.sh, in its own process so that its peak resident memory
// is its own. ViT-B at 1024 px, random weights, fp32 on the CPU. Prints "key value" lines:
//   encoder   encoder_ms: one image-encoder forward
//   samples   forward_ms: encoder + prior net + decoder for one code (one forward of the model)
//             samples16_ms: encoder + ProbSam::sample(16) (prior net + one decoder call for the 16
//             codes and the prior mean); decoder1_ms / decoder16_ms: the decoder alone
//   train     train_uncached_s, train_cached_s: seconds per optimiser step, batch 1, frozen
//             encoder, reference latent nets (the reference protocol; as bench_train)
// and peak_rss_mib (the process's peak resident memory). Times are the best of --iters after one
// warm-up.
//
//   bench_vs_python --case encoder|samples|train [--threads N] [--iters 1] [--attention auto]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>

#include "bench_steps.h"
#include "bench_timing.h"
#include "psam/geometry/frame.h"
#include "psam/models/registry.h"
#include "psam/prob/prob_sam.h"
#include "psam/sam/image_encoder.h"
#include "psam/util/allocator.h"
#include "psam/util/attention_path.h"
#include "psam/util/threads.h"

namespace {
namespace fs = std::filesystem;
using namespace psam;
using bench::best_ms;

void encoder_case(int iters) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  sam::ImageEncoderViT encoder(sam::vit_b());
  encoder->eval();
  const auto x = torch::randn({1, 3, 1024, 1024});
  std::printf("encoder_ms %.1f\n", best_ms([&] { encoder(x); }, iters));
}

void samples_case(int iters) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  prob::ProbSamConfig c;
  c.sam = sam::vit_b();
  c.latent_net = prob::LatentNetKind::kReference;
  prob::ProbSam model(c);
  model->eval();
  const auto image = torch::randn({1, 3, 1024, 1024});
  const auto box = torch::tensor({{300.f, 280.f, 620.f, 700.f}});
  const std::array<int64_t, 2> out_hw{1024, 1024};
  const double forward = best_ms(
      [&] {
        const auto e = model->embed(image);
        const auto z = model->prior({}, image).mu();
        geometry::resize_logits(model->decode(e, box, z, sam::EmbeddingBatching::kShared), out_hw);
      },
      iters);
  const double samples = best_ms(
      [&] { model->sample(model->embed(image), image, box, 16, out_hw); }, iters);
  const auto embedding = model->embed(image);
  const auto codes = torch::randn({16, c.latent_dim});
  const double one = best_ms(
      [&] {
        model->decode(embedding, box, codes.slice(0, 0, 1), sam::EmbeddingBatching::kShared);
      },
      iters);
  const double many = best_ms(
      [&] { model->decode(embedding, box.expand({16, 4}), codes, sam::EmbeddingBatching::kShared); },
      iters);
  std::printf("forward_ms %.1f\nsamples16_ms %.1f\ndecoder1_ms %.1f\ndecoder16_ms %.1f\n", forward,
              samples, one, many);
}

void train_case(int iters) {
  const std::string dir = (fs::temp_directory_path() /
                           ("psam_vs_python_train_" + std::to_string(::getpid())))
                              .string();
  bench::make_train_store(dir, 4);
  torch::manual_seed(0);
  const auto model = models::build_model(bench::prob_sam_config("vit_b"), c10::kCPU);
  const auto t = bench::time_cached_and_uncached_steps(*model, dir, iters, c10::kCPU);
  std::printf("train_uncached_s %.3f\ntrain_cached_s %.3f\n", t.uncached, t.cached);
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::string which, attention = "auto";
  int threads = 2, iters = 1;
  CLI::App app{"One psam case of tools/bench/vs_python.sh (ViT-B at 1024 px, CPU)"};
  app.add_option("--case", which, "encoder, samples or train")
      ->required()
      ->check(CLI::IsMember({"encoder", "samples", "train"}));
  app.add_option("--threads", threads, "libtorch threads");
  app.add_option("--iters", iters, "timed runs after one warm-up (the best is printed)");
  app.add_option("--attention", attention, "auto, explicit or sdpa");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  reuse_freed_memory();
  set_attention_path(value_of<AttentionPath>(attention, "--attention"));
  std::printf("libtorch %s\nthreads %d\nattention %s\n", TORCH_VERSION, torch::get_num_threads(),
              name_of(attention_path()));
  if (which == "encoder") encoder_case(iters);
  if (which == "samples") samples_case(iters);
  if (which == "train") train_case(iters);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("peak_rss_mib %.0f\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
