// The cost of one UA-SAM training step (forward, backward, Adam step) at ViT-B shape, for SAM's
// 1024 px frame and a smaller one (default 256: what model.init_from's interpolation of the
// position tables makes possible with official weights). Random weights; batch of --batch cases
// with a box and a target mask; the first step is a warm-up, the median of --steps is printed.
//   bench_ua_sam_step [--sizes 1024,256] [--steps 1] [--batch 1] [--threads 0]
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "psam/data/loader/loader.h"
#include "psam/models/registry.h"

using namespace psam;

namespace {

data::Batch synthetic_batch(int64_t batch, int64_t size) {
  data::Batch b;
  b.image = torch::randn({batch, 3, size, size});
  b.masks = torch::zeros({batch, 1, size, size}, torch::kUInt8);
  b.masks.slice(2, size / 4, size / 2).slice(3, size / 4, size / 2).fill_(1);
  const auto q = static_cast<float>(size / 4), h = static_cast<float>(size / 2 - 1);
  b.box = torch::tensor({q, q, h, h}).repeat({batch, 1});
  b.size = {size, size};
  return b;
}

std::vector<int64_t> parse_sizes(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find(',', start);
    out.push_back(std::stoll(text.substr(start, end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {1024, 256};
  int steps = 1;
  int64_t batch = 1, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--sizes") sizes = parse_sizes(value);
    else if (key == "--steps") steps = std::stoi(value);
    else if (key == "--batch") batch = std::stoll(value);
    else if (key == "--threads") threads = std::stoll(value);
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  fmt::print("UA-SAM training step, ViT-B (embed 768, depth 12), batch {}, {} thread(s), median "
             "of {} step(s) after a warm-up\n",
             batch, torch::get_num_threads(), steps);
  for (const int64_t size : sizes) {
    models::ModelConfig c;
    c.kind = "ua_sam";
    c.prob.latent_net = prob::LatentNetKind::kNone;
    c.prob.sam.img_size = size;
    c.prob.trainable.image_encoder = false;
    c.prob.trainable.prompt_encoder = false;
    c.prob.trainable.mask_decoder = false;
    torch::manual_seed(0);
    auto model = models::build_model(c, torch::kCPU);
    model->module().train();
    std::vector<at::Tensor> params;
    for (const auto& [name, p] : model->trainable_parameters()) params.push_back(p);
    torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-4));
    const data::Batch b = synthetic_batch(batch, size);
    train::LossConfig loss;
    loss.beta = 1;
    loss.l2_weight = 1e-5;
    int64_t step = 0;
    const double ms = bench::median_ms(
        [&] {
          adam.zero_grad();
          model->loss(b, loss, step, at::make_generator<at::CPUGeneratorImpl>(step))
              .total.backward();
          adam.step();
          ++step;
        },
        steps, torch::kCPU);
    fmt::print("  {:>5} px ({}x{} tokens): {:9.1f} ms/step, {} trainable tensors\n", size,
               size / 16, size / 16, ms, params.size());
  }
  return 0;
}
