// Time of the ambiguity metrics per case and of the assignment solver, on random masks.
// Usage: bench_metrics [threads]   (default 1; prints one line per configuration)
// Reports process CPU time per call: on a shared machine it is steadier than wall time (with
// more than one thread it is the sum over threads).
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <ctime>

#include "psam/eval/assignment.h"
#include "psam/eval/metrics.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

template <typename F>
double cpu_milliseconds_per_call(F f, int repeats) {
  f();  // warm-up
  const std::clock_t start = std::clock();
  for (int i = 0; i < repeats; ++i) f();
  return 1000.0 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC / repeats;
}

}  // namespace

int main(int argc, char** argv) {
  psam::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  psam::reuse_freed_memory();
  torch::manual_seed(0);
  fmt::print("threads {}\n", at::get_num_threads());
  struct Shape {
    int64_t n, m, size;
  };
  for (const Shape s : {Shape{16, 4, 128}, Shape{16, 4, 512}, Shape{64, 4, 256}}) {
    const at::Tensor probs = torch::rand({s.n, s.size, s.size});
    const at::Tensor samples = (probs > 0.5).to(torch::kUInt8);
    const at::Tensor annotators = (torch::rand({s.m, s.size, s.size}) > 0.5).to(torch::kUInt8);
    const double all = cpu_milliseconds_per_call(
        [&] { psam::eval::evaluate_case(samples, annotators, probs); }, 20);
    const double distances = cpu_milliseconds_per_call(
        [&] {
          psam::eval::pairwise_distances(samples, annotators, psam::eval::IouConvention::kPhiseg);
        },
        20);
    const double ncc =
        cpu_milliseconds_per_call([&] { psam::eval::variance_ncc(probs, annotators); }, 20);
    fmt::print(
        "evaluate_case N={} M={} {}x{}: {:.2f} ms CPU (pairwise distances {:.2f} ms, NCC {:.2f} "
        "ms)\n",
        s.n, s.m, s.size, s.size, all, distances, ncc);
  }
  for (int64_t n : {16, 64, 256, 1024}) {
    const at::Tensor cost = torch::rand({n, n}, torch::kDouble);
    const double ms =
        cpu_milliseconds_per_call([&] { psam::eval::linear_assignment(cost); }, n >= 1024 ? 2 : 20);
    fmt::print("linear_assignment n={}: {:.3f} ms CPU\n", n, ms);
  }
  return 0;
}
