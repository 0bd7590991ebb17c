// Synthetic benchmark generation speed: samples/s of synth_sample alone and of a whole store
// (generation + writing + the final check) with the default options.
//   bench_synth [N] [THREADS]     (defaults 1000, all cores)
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "psam/data/synthetic/synthetic.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 1000;
  psam::set_num_threads(argc > 2 ? std::atoi(argv[2]) : 0);
  psam::reuse_freed_memory();
  psam::data::SynthOptions o;
  o.count = n;

  // CPU time as well as wall time: on a shared machine the wall clock measures the neighbours.
  const int64_t probe = std::min<int64_t>(n, 200);
  auto start = Clock::now();
  std::clock_t cpu = std::clock();
  for (int64_t i = 0; i < probe; ++i) psam::data::synth_sample(o, i);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count() / probe;
  const double cpu_one = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC / probe;
  std::cout << fmt::format(
      "synth_sample (1 thread, {} annotators + {} oracle draws, {}x{}): "
      "{:.2f} ms/sample wall, {:.2f} ms/sample CPU\n",
      o.annotators, o.oracle_draws, o.size, o.size, wall * 1e3, cpu_one * 1e3);

  const auto dir = std::filesystem::temp_directory_path() / "psam_bench_synth";
  std::filesystem::remove_all(dir);
  start = Clock::now();
  cpu = std::clock();
  psam::data::generate_synthetic(dir.string(), o, psam::data::SplitOptions{});
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  const double total_cpu = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  std::cout << fmt::format(
      "store of {} samples with {} threads: {:.2f} s wall ({:.0f} samples/s), {:.2f} s CPU\n", n,
      at::get_num_threads(), total, n / total, total_cpu);
  std::filesystem::remove_all(dir);
  return 0;
}
