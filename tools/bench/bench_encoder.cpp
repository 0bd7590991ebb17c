// ViT image-encoder speed: ms per image at 1024x1024 with random weights, batch 1 and 4,
// fp32 on CPU, fp32 and bf16 on CUDA when present. Compare with
//   /usr/bin/python3 tools/bench/sam_encoder_ref.py bench --threads N
// at the same thread count (same libtorch and BLAS).
//
//   bench_encoder [--threads N] [--batch 1,4] [--iters 3] [--warmup 1] [--model vit_b] [--chunk N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "psam/sam/image_encoder.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

struct Args {
  int threads = 2;
  std::vector<int64_t> batches = {1, 4};
  int iters = 3;
  int warmup = 1;
  std::string model = "vit_b";
  int64_t chunk = psam::sam::kDefaultAttentionChunkElements;
};

void run(psam::sam::ImageEncoderViT& encoder, const Args& a, torch::Device device,
         torch::ScalarType dtype, const char* label) {
  encoder->to(device, dtype);
  torch::NoGradGuard no_grad;
  for (int64_t batch : a.batches) {
    const auto x = torch::randn({batch, 3, encoder->img_size(), encoder->img_size()},
                                torch::TensorOptions().device(device).dtype(dtype));
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    for (int i = 0; i < a.warmup; ++i) encoder(x);
    sync();
    std::vector<double> ms;
    for (int i = 0; i < a.iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      encoder(x);
      sync();
      const std::chrono::duration<double, std::milli> dt = std::chrono::steady_clock::now() - t0;
      ms.push_back(dt.count() / static_cast<double>(batch));
    }
    std::sort(ms.begin(), ms.end());
    std::printf("psam %s %lldx%lld %s %s batch %lld: %.1f ms/image (min), %.1f (median) over %d\n",
                a.model.c_str(), static_cast<long long>(encoder->img_size()),
                static_cast<long long>(encoder->img_size()), label,
                device.is_cuda() ? "cuda" : "cpu", static_cast<long long>(batch), ms.front(),
                ms[ms.size() / 2], a.iters);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"ViT image-encoder speed at 1024x1024 (random weights)"};
  app.add_option("--threads", a.threads, "libtorch threads (0: all cores)");
  app.add_option("--batch", a.batches, "batch sizes, comma-separated")->delimiter(',');
  app.add_option("--iters", a.iters, "timed iterations per batch size");
  app.add_option("--warmup", a.warmup, "untimed iterations first");
  app.add_option("--model", a.model, "vit_b, vit_l or vit_h");
  app.add_option("--chunk", a.chunk, "attention score elements per chunk");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  torch::manual_seed(0);
  psam::sam::ImageEncoderViT encoder(psam::sam::preset(a.model));
  encoder->eval();
  encoder->set_attention_chunk_elements(a.chunk);
  std::printf("libtorch %s, threads %d, attention chunks of %lld scores\n", TORCH_VERSION,
              torch::get_num_threads(), static_cast<long long>(a.chunk));
  if (torch::cuda::is_available()) {
    run(encoder, a, torch::kCUDA, torch::kFloat, "fp32");
    run(encoder, a, torch::kCUDA, torch::kBFloat16, "bf16");
  } else {
    run(encoder, a, torch::kCPU, torch::kFloat, "fp32");
  }
  return 0;
}
