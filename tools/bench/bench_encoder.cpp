// ViT image-encoder speed: ms per image at 1024x1024 with random weights, batch 1 and 4,
// fp32 on CPU, fp32 and bf16 on CUDA when present. Compare with
//   /usr/bin/python3 tools/bench/sam_encoder_ref.py bench --threads N
// at the same thread count (same libtorch and BLAS).
//
//   bench_encoder [--threads N] [--batch 1,4] [--iters 3] [--warmup 1] [--model vit_b] [--chunk N]
//                 [--attention auto|explicit|sdpa] [--blocks]
// --blocks adds where the time goes: ms per image of the patch embedding, each ViT block (windowed
// or global) and the neck, from the last timed iteration.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "psam/sam/image_encoder.h"
#include "psam/util/allocator.h"
#include "psam/util/attention_path.h"
#include "psam/util/threads.h"

namespace {

struct Args {
  int threads = 2;
  std::vector<int64_t> batches = {1, 4};
  int iters = 3;
  int warmup = 1;
  std::string model = "vit_b";
  int64_t chunk = psam::sam::kDefaultAttentionChunkElements;
  std::string attention = "auto";
  bool blocks = false;
};

using Clock = std::chrono::steady_clock;

// Times between consecutive block ends (the first from the forward's start: the patch
// embedding is included in block 0; the neck is what follows the last block).
void print_block_times(const std::vector<Clock::time_point>& marks, Clock::time_point end,
                       const psam::sam::SamConfig& config, int64_t batch) {
  const auto& global = config.encoder_global_attn_indexes;
  double window_ms = 0, global_ms = 0;
  for (size_t i = 1; i < marks.size(); ++i) {
    const double ms = std::chrono::duration<double, std::milli>(marks[i] - marks[i - 1]).count() /
                      static_cast<double>(batch);
    const bool is_global =
        std::find(global.begin(), global.end(), static_cast<int64_t>(i - 1)) != global.end();
    (is_global ? global_ms : window_ms) += ms;
    std::printf("  block %2zu (%s%s): %.1f ms\n", i - 1, is_global ? "global" : "windowed",
                i == 1 ? ", with the patch embedding" : "", ms);
  }
  const double neck = std::chrono::duration<double, std::milli>(end - marks.back()).count() /
                      static_cast<double>(batch);
  std::printf("  windowed blocks %.1f ms, global blocks %.1f ms, neck %.1f ms\n", window_ms,
              global_ms, neck);
}

void run(psam::sam::ImageEncoderViT& encoder, const psam::sam::SamConfig& config, const Args& a,
         torch::Device device,
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
    std::vector<Clock::time_point> marks;
    const psam::sam::BlockHook mark = [&](int64_t, const torch::Tensor& h) {
      sync();
      marks.push_back(Clock::now());
      return h;
    };
    Clock::time_point end;
    for (int i = 0; i < a.iters; ++i) {
      marks.clear();
      const auto t0 = Clock::now();
      marks.push_back(t0);
      encoder(x, a.blocks ? mark : psam::sam::BlockHook{});
      sync();
      end = Clock::now();
      const std::chrono::duration<double, std::milli> dt = end - t0;
      ms.push_back(dt.count() / static_cast<double>(batch));
    }
    std::sort(ms.begin(), ms.end());
    std::printf("psam %s %lldx%lld %s %s batch %lld: %.1f ms/image (min), %.1f (median) over %d\n",
                a.model.c_str(), static_cast<long long>(encoder->img_size()),
                static_cast<long long>(encoder->img_size()), label,
                device.is_cuda() ? "cuda" : "cpu", static_cast<long long>(batch), ms.front(),
                ms[ms.size() / 2], a.iters);
    if (a.blocks) print_block_times(marks, end, config, batch);
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
  app.add_option("--attention", a.attention, "attention path: auto, explicit or sdpa");
  app.add_flag("--blocks", a.blocks, "print the time of each block");
  CLI11_PARSE(app, argc, argv);
  psam::set_attention_path(
      psam::value_of<psam::AttentionPath>(a.attention, "--attention"));
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  torch::manual_seed(0);
  const auto config = psam::sam::preset(a.model);
  psam::sam::ImageEncoderViT encoder(config);
  encoder->eval();
  encoder->set_attention_chunk_elements(a.chunk);
  std::printf("libtorch %s, threads %d, %s attention, chunks of %lld scores\n", TORCH_VERSION,
              torch::get_num_threads(), psam::name_of(psam::attention_path()),
              static_cast<long long>(a.chunk));
  if (torch::cuda::is_available()) {
    run(encoder, config, a, torch::kCUDA, torch::kFloat, "fp32");
    run(encoder, config, a, torch::kCUDA, torch::kBFloat16, "bf16");
  } else {
    run(encoder, config, a, torch::kCPU, torch::kFloat, "fp32");
  }
  return 0;
}
