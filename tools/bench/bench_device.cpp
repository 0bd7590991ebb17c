// The numbers tools/gpu_check.sh collects on one device, as one JSON object: the ViT image
// encoder at its input size in fp32 and under bf16 autocast (images/s), a Probabilistic SAM
// training step with the encoder frozen (uncached and with the embedding cache), 16 samples of
// one image with the encoder included, and each one's peak memory (the CUDA allocator's peak on a
// GPU, the process's peak resident set on the CPU). Random weights, batch 1.
//
//   bench_device [--device cuda|cpu] [--model vit_b|vit_l|vit_h|tiny] [--iters 3] [--steps 3]
//                [--threads N] [--json FILE]
#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench_memory.h"
#include "bench_steps.h"
#include "bench_timing.h"
#include "psam/models/registry.h"
#include "psam/train/autocast.h"
#include "psam/util/allocator.h"
#include "psam/util/build_info.h"
#include "psam/util/threads.h"

namespace {
namespace fs = std::filesystem;
using namespace psam;
using nlohmann::json;

struct Args {
  std::string device = torch::cuda::is_available() ? "cuda" : "cpu";
  std::string model = "vit_b";
  int iters = 3;
  int steps = 3;
  int threads = 0;
  std::string json_path;
};

// Median ms of `fn` and the peak memory it reached.
json measure(const std::function<void()>& fn, int iters, const c10::Device& device) {
  bench::reset_peak_memory(device);
  const double ms = bench::median_ms(fn, iters, device);
  return {{"ms", ms}, {"peak_memory_bytes", bench::peak_memory_bytes(device)}};
}

json encoder_numbers(models::ProbSamModel& model, const Args& a, const c10::Device& device) {
  auto& encoder = model.net()->sam->image_encoder;
  const int64_t s = encoder->img_size();
  const at::Tensor x = torch::randn({1, 3, s, s}, torch::TensorOptions(device));
  torch::NoGradGuard no_grad;
  json out;
  for (const bool bf16 : {false, true}) {
    json m = measure(
        [&] {
          train::Bf16Autocast autocast(bf16, device.type());
          encoder->forward(x);
        },
        a.iters, device);
    m["images_per_s"] = 1000.0 / m["ms"].get<double>();
    out[bf16 ? "bf16" : "fp32"] = m;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Encoder, training-step and sampling numbers on one device, as JSON"};
  app.add_option("--device", a.device, "cuda or cpu");
  app.add_option("--model", a.model, "vit_b, vit_l, vit_h or tiny");
  app.add_option("--iters", a.iters, "timed runs of each forward measurement (median)");
  app.add_option("--steps", a.steps, "timed training steps (mean)");
  app.add_option("--threads", a.threads, "libtorch CPU threads (0: OMP_NUM_THREADS or all)");
  app.add_option("--json", a.json_path, "write the JSON here too");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  const c10::Device device(a.device);
  if (device.is_cuda()) {
    // fp32 means fp32: TF32 matmuls would be a third precision.
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }

  const std::string dir = (fs::temp_directory_path() / "psam_bench_device").string();
  bench::make_train_store(dir, 4);
  const auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir + "/store"));
  const auto indices = store->split_indices("train");

  torch::manual_seed(0);
  models::ModelConfig config = bench::prob_sam_config(a.model);
  config.prob.latent_net = prob::LatentNetKind::kReference;
  const auto built = models::build_model(config, device);
  auto& model = static_cast<models::ProbSamModel&>(*built);
  const BuildInfo build = build_info();
  json out = {{"device", device.str()},
              {"libtorch", build.libtorch},
              {"cuda", build.cuda_version},
              {"model", a.model},
              {"img_size", config.prob.sam.img_size},
              {"threads", torch::get_num_threads()}};

  model.module().eval();
  out["encoder"] = encoder_numbers(model, a, device);

  data::LoaderOptions train_options;
  model.prepare_loader(train_options, /*training=*/true);
  model.module().train();
  train::ModelTask task(model, train::LossConfig{});
  {
    data::Loader loader(store, indices, train_options);
    bench::reset_peak_memory(device);
    const double s = bench::seconds_per_step(task, loader, a.steps, device);
    out["train_step"]["uncached"] = {{"s", s}, {"peak_memory_bytes", bench::peak_memory_bytes(device)}};
  }
  {
    auto [cache, fill] = bench::filled_embedding_cache(model, store, indices, train_options,
                                                       dir + "/cache", device);
    model.set_embedding_cache(cache.get());
    data::Loader loader(store, indices, train_options);
    bench::reset_peak_memory(device);
    const double s = bench::seconds_per_step(task, loader, a.steps, device);
    out["train_step"]["cached"] = {{"s", s},
                                   {"peak_memory_bytes", bench::peak_memory_bytes(device)},
                                   {"cache_fill_s_per_image", fill}};
    model.set_embedding_cache(nullptr);
  }

  data::LoaderOptions eval_options;
  model.prepare_loader(eval_options, /*training=*/false);
  eval_options.batch_size = 1;
  data::Loader loader(store, indices, eval_options);
  const data::Batch batch = *loader.next();
  model.module().eval();
  torch::NoGradGuard no_grad;
  for (const int64_t n : {int64_t{1}, int64_t{16}}) {
    out["samples"][std::to_string(n)] = measure(
        [&] { model.sample(batch, n, at::make_generator<at::CPUGeneratorImpl>(1)); }, a.iters,
        device);
  }
  fs::remove_all(dir);

  const std::string text = out.dump(2);
  std::printf("%s\n", text.c_str());
  if (!a.json_path.empty()) std::ofstream(a.json_path) << text << "\n";
  return 0;
}
