// Loader throughput: patches/s at SAM's 1024 input with 2 worker threads (the defaults), over a
// synthetic 128x128 HU store made on the fly or a given store.
//   bench_loader [--store DIR] [--workers 2] [--size 1024] [--batch 4] [--patches 400]
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "psam/data/loader.h"
#include "psam/data/synthetic.h"
#include "psam/util/threads.h"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  std::string store_dir;
  int64_t workers = 2, size = 1024, batch = 4, patches = 400;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--store")
      store_dir = value;
    else if (flag == "--workers")
      workers = std::atoll(value);
    else if (flag == "--size")
      size = std::atoll(value);
    else if (flag == "--batch")
      batch = std::atoll(value);
    else if (flag == "--patches")
      patches = std::atoll(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  psam::set_num_threads(0);
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

  psam::data::LoaderOptions o;
  o.workers = workers;
  o.input_size = size;
  o.batch_size = batch;
  psam::data::Loader loader(store, all, o);
  loader.next();  // warm-up: threads started, first pages of the store mapped

  const auto start = Clock::now();
  const std::clock_t cpu = std::clock();
  int64_t done = 0;
  while (done < patches) {
    auto b = loader.next();
    if (!b) continue;  // epoch boundary
    done += b->image.size(0);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_s = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  std::cout << fmt::format(
      "loader: {} patches {}x{} -> input {} (batch {}, {} workers): {:.1f} patches/s wall, "
      "{:.2f} ms CPU per patch ({} CPU threads on this machine)\n",
      done, store->info().height, store->info().width, size, batch, workers, done / wall,
      1e3 * cpu_s / done, std::thread::hardware_concurrency());
  std::filesystem::remove_all(scratch);
  return 0;
}
