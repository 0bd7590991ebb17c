// Loader throughput at SAM's 1024 input: batches/s and patches/s for 0 (calling thread), 1 and 2
// worker threads, over a synthetic 128x128 HU store made on the fly (or a given store), without
// augmentation, with the small-data recipe's (configs/_base_/schedule/small_real.yaml) and with
// every transformation on every sample (the worst case).
//   bench_loader [--store DIR] [--workers 0,1,2] [--size 1024] [--batch 4] [--batches 40]
//                [--augment none,recipe,all]
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "psam/data/loader/loader.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

struct Timing {
  int64_t batches = 0, patches = 0;
  double wall_s = 0, cpu_s = 0;
};

Timing run(const std::shared_ptr<const psam::data::DatasetStore>& store,
           const std::vector<int64_t>& indices, psam::data::LoaderOptions o, int64_t batches) {
  using Clock = std::chrono::steady_clock;
  psam::data::Loader loader(store, indices, o);
  loader.next();  // warm-up: threads started, first pages of the store mapped
  Timing t;
  const auto start = Clock::now();
  const std::clock_t cpu = std::clock();
  while (t.batches < batches) {
    auto b = loader.next();
    if (!b) continue;  // epoch boundary
    ++t.batches;
    t.patches += b->image.size(0);
  }
  t.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  t.cpu_s = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  return t;
}

// The small-data recipe's probabilities (configs/_base_/schedule/small_real.yaml), or every
// transformation always.
psam::data::AugmentOptions augment_preset(const std::string& mode) {
  psam::data::AugmentOptions a;
  if (mode == "none") return a;
  const bool all = mode == "all";
  a.flip_x = a.flip_y = all ? 1.0 : 0.5;
  a.rot90 = all ? 1.0 : 0.5;
  a.affine.p = all ? 1.0 : 0.5;
  a.elastic.p = all ? 1.0 : 0.2;
  for (auto* r : {&a.brightness, &a.contrast, &a.gamma}) r->p = all ? 1.0 : 0.3;
  a.blur.p = a.noise.p = all ? 1.0 : 0.15;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  std::string store_dir;
  std::vector<int64_t> workers = {0, 1, 2};
  std::vector<std::string> augment = {"none", "recipe", "all"};
  int64_t size = 1024, batch = 4, batches = 40;
  CLI::App app{"Loader throughput at SAM's input size"};
  app.add_option("--store", store_dir, "a dataset store (default: a synthetic one made here)");
  app.add_option("--workers", workers, "worker-thread counts, comma-separated")->delimiter(',');
  app.add_option("--size", size, "model input size");
  app.add_option("--batch", batch, "batch size");
  app.add_option("--batches", batches, "timed batches per worker count");
  app.add_option("--augment", augment, "augmentation: none, recipe, all (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember({"none", "recipe", "all"}));
  CLI11_PARSE(app, argc, argv);
  psam::set_num_threads(0);
  psam::reuse_freed_memory();
  const auto scratch = std::filesystem::temp_directory_path() / "psam_bench_loader_store";
  if (store_dir.empty()) {
    std::filesystem::remove_all(scratch);
    psam::data::SynthOptions o;
    o.count = 256;
    o.oracle_draws = 0;
    psam::data::generate_synthetic(scratch.string(), o, psam::data::SplitOptions{});
    store_dir = scratch.string();
  }
  auto store =
      std::make_shared<const psam::data::DatasetStore>(psam::data::DatasetStore::open(store_dir));
  std::vector<int64_t> all(store->size());
  for (int64_t i = 0; i < store->size(); ++i) all[i] = i;

  std::cout << fmt::format("loader: {}x{} store -> input {}, batch {}, {} CPU threads\n",
                           store->info().height, store->info().width, size, batch,
                           std::thread::hardware_concurrency());
  for (const std::string& mode : augment) {
    for (const int64_t w : workers) {
      psam::data::LoaderOptions o;
      o.workers = w;
      o.input_size = size;
      o.batch_size = batch;
      o.augment = augment_preset(mode);
      const Timing t = run(store, all, o, batches);
      std::cout << fmt::format(
          "  augment {:6} {} workers: {:6.2f} batches/s  {:7.1f} patches/s  ({:.2f} ms CPU per "
          "patch)\n",
          mode, o.workers, t.batches / t.wall_s, t.patches / t.wall_s, 1e3 * t.cpu_s / t.patches);
    }
  }
  std::filesystem::remove_all(scratch);
  return 0;
}
