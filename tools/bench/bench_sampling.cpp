// Probabilistic SAM sampling cost, ViT-B shape at 1024x1024 with random weights and the image
// embedding already computed (as with the embedding cache):
//   1. ProbSam::sample with n = 16 vs n = 1 (prior net + one batched decoder call), and the
//      decoder alone (16 codes in one call vs 1), against the 16x of sixteen separate calls;
//   2. the reference latent nets (prior, posterior) on a 1024x1024 input vs resized to 128x128
//      (latent_input_size), the resize included.
// fp32; CUDA when present, else CPU.
//
//   bench_sampling [--threads N] [--iters 5] [--n 16] [--small 128]
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_timing.h"
#include "psam/prob/prob_sam.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

using psam::bench::median_ms;

struct Args {
  int threads = 2;
  int iters = 5;
  int64_t n = 16;
  int64_t small = 128;
};

psam::prob::ProbSamConfig config(int64_t latent_input_size) {
  psam::prob::ProbSamConfig c;
  c.sam = psam::sam::vit_b();
  c.latent_net = psam::prob::LatentNetKind::kReference;
  c.latent_input_size = latent_input_size;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  using psam::sam::EmbeddingBatching;
  Args a;
  CLI::App app{"Probabilistic SAM sampling cost (ViT-B shape, random weights)"};
  app.add_option("--threads", a.threads, "libtorch threads (0: all cores)");
  app.add_option("--iters", a.iters, "timed iterations");
  app.add_option("--n", a.n, "samples per image");
  app.add_option("--small", a.small, "latent-net input size to compare with 1024");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  torch::manual_seed(0);
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  std::printf("libtorch %s, %s, threads %d, median of %d runs\n", TORCH_VERSION,
              device.is_cuda() ? "cuda" : "cpu", torch::get_num_threads(), a.iters);
  torch::NoGradGuard no_grad;

  psam::prob::ProbSam full(config(0)), small(config(a.small));
  for (auto* m : {&full, &small}) {
    (*m)->to(device);
    (*m)->eval();
  }
  const auto opts = torch::TensorOptions().device(device);
  const int64_t s = full->config().sam.img_size, e = full->config().sam.image_embedding_size();
  const auto image = torch::randn({1, 3, s, s}, opts);
  const auto embedding = torch::randn({1, full->config().sam.prompt_embed_dim, e, e}, opts);
  const auto box = torch::tensor({{300.f, 280.f, 620.f, 700.f}}, opts);
  const auto mask = torch::zeros({1, 1, s, s}, opts);
  mask.slice(2, 280, 700).slice(3, 300, 620).fill_(1);
  const std::array<int64_t, 2> out_hw{256, 256};

  // 1. Sampling with the latent nets at the small input (the recommended setting).
  const double one =
      median_ms([&] { small->sample(embedding, image, box, 1, out_hw); }, a.iters, device);
  const double many =
      median_ms([&] { small->sample(embedding, image, box, a.n, out_hw); }, a.iters, device);
  std::printf(
      "sample (prior net at %lld + decoder): n=1 %.1f ms, n=%lld %.1f ms, ratio %.2f "
      "(%lld separate calls: %lld.00)\n",
      static_cast<long long>(a.small), one, static_cast<long long>(a.n), many, many / one,
      static_cast<long long>(a.n), static_cast<long long>(a.n));
  const auto z = torch::randn({a.n, full->config().latent_dim}, opts);
  const double dec_one = median_ms(
      [&] { small->decode(embedding, box, z.slice(0, 0, 1), EmbeddingBatching::kShared); }, a.iters,
      device);
  const double dec_many = median_ms(
      [&] {
        small->decode(embedding, box.expand({a.n, 4}), z, EmbeddingBatching::kShared);
      },
      a.iters, device);
  std::printf("decoder alone: 1 code %.1f ms, %lld codes in one call %.1f ms, ratio %.2f\n",
              dec_one, static_cast<long long>(a.n), dec_many, dec_many / dec_one);

  // 2. The reference latent nets at SAM's full input vs the small input.
  for (const char* which : {"prior", "posterior"}) {
    const bool post = std::string(which) == "posterior";
    const auto run = [&](psam::prob::ProbSam& m) {
      if (post) {
        m->posterior({}, image, mask);
      } else {
        m->prior({}, image);
      }
    };
    const double big_ms = median_ms([&] { run(full); }, a.iters, device);
    const double small_ms = median_ms([&] { run(small); }, a.iters, device);
    std::printf("%s net: input %lld %.1f ms, input %lld (resize included) %.1f ms, %.1fx less\n",
                which, static_cast<long long>(s), big_ms, static_cast<long long>(a.small), small_ms,
                big_ms / small_ms);
  }
  return 0;
}
