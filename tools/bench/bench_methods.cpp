// The cost of N samples (default 16) of one case for every method of the registry, as the
// evaluator and psam predict --samples call it (Model::sample on one loader batch: the image
// encoder or U-Net once, then the method's batched sampling), against one sample. Random
// weights; the shapes of the shipped configs:
//   --shape demo   the synthetic demo: the tiny SAM at 64 px (sam_tiny.yaml, img_size 64), latent
//                  nets at 32 px; the Probabilistic U-Net with filters [16, 32, 64, 96] on 64 px
//   --shape lidc   the LIDC configs: SAM ViT-B at 1024, latent nets at 1024; the Probabilistic
//                  U-Net with [32, 64, 128, 192] on 128 px crops
// fp32; CUDA when present, else CPU.
//
//   bench_methods [--shape demo|lidc] [--threads N] [--iters 20] [--n 16]
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_timing.h"
#include "psam/data/loader/loader.h"
#include "psam/models/registry.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

struct Args {
  std::string shape = "demo";
  int threads = 2;
  int iters = 20;
  int64_t n = 16;
};

psam::sam::SamConfig demo_sam() {
  psam::sam::SamConfig s;
  s.img_size = 64;
  s.patch_size = 8;
  s.encoder_embed_dim = 64;
  s.encoder_depth = 4;
  s.encoder_num_heads = 4;
  s.window_size = 4;
  s.encoder_global_attn_indexes = {1, 3};
  s.prompt_embed_dim = 64;
  s.mask_in_chans = 8;
  s.decoder_depth = 1;
  s.decoder_num_heads = 4;
  s.decoder_mlp_dim = 256;
  s.iou_head_hidden_dim = 64;
  return s;
}

struct Method {
  std::string label;
  psam::models::ModelConfig config;
};

std::vector<Method> methods(bool demo) {
  psam::models::ModelConfig sam;
  sam.prob.sam = demo ? demo_sam() : psam::sam::vit_b();
  sam.prob.latent_net = psam::prob::LatentNetKind::kNone;
  Method prob{"prob_sam", sam};
  prob.config.prob.latent_net = psam::prob::LatentNetKind::kReference;
  prob.config.prob.latent_input_size = demo ? 32 : 0;
  Method dropout{"mc_dropout_sam", sam};
  dropout.config.kind = "mc_dropout_sam";
  Method adapter{"adapter_sam", sam};
  adapter.config.kind = "adapter_sam";
  Method unet;
  unet.label = "prob_unet";
  unet.config.kind = "prob_unet";
  unet.config.prob_unet.num_filters = demo ? std::vector<int64_t>{16, 32, 64, 96}
                                           : std::vector<int64_t>{32, 64, 128, 192};
  return {prob, {"sam (latent_net none)", sam}, dropout, adapter, unet};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Cost of N samples of one case for every method (random weights)"};
  app.add_option("--shape", a.shape, "demo | lidc")->check(CLI::IsMember({"demo", "lidc"}));
  app.add_option("--threads", a.threads, "libtorch threads (0: all cores)");
  app.add_option("--iters", a.iters, "timed iterations");
  app.add_option("--n", a.n, "samples per case");
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(a.threads);
  psam::reuse_freed_memory();
  const bool demo = a.shape == "demo";
  const int64_t side = demo ? 64 : 128;  // the store's image size
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  std::printf("libtorch %s, %s, threads %d, median of %d runs, shape %s (%lld px images)\n",
              TORCH_VERSION, device.is_cuda() ? "cuda" : "cpu", torch::get_num_threads(), a.iters,
              a.shape.c_str(), static_cast<long long>(side));
  std::printf("%-22s %12s %14s %8s\n", "method", "1 sample ms",
              (std::to_string(a.n) + " samples ms").c_str(), "ratio");
  torch::NoGradGuard no_grad;
  const at::Tensor image = torch::randint(0, 256, {side, side}).to(torch::kByte);
  const psam::data::Box box{0.3f * side, 0.25f * side, 0.6f * side, 0.7f * side};
  for (const auto& m : methods(demo)) {
    torch::manual_seed(0);
    const auto model = psam::models::build_model(m.config, device);
    model->module().eval();
    psam::data::LoaderOptions options;
    model->prepare_loader(options, /*training=*/false);
    const auto batch = psam::data::image_batch(image, psam::data::Intensity::kUint8, box, options);
    const auto run = [&](int64_t n) {
      return psam::bench::median_ms(
          [&] { model->sample(batch, n, at::make_generator<at::CPUGeneratorImpl>(1)); },
          a.iters, device);
    };
    const double one = run(1), many = run(a.n);
    std::printf("%-22s %12.1f %14.1f %8.2f\n", m.label.c_str(), one, many, many / one);
  }
  return 0;
}
