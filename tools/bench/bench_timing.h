// Timing helper shared by the benchmarks.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <vector>

namespace psam::bench {

// Median milliseconds of fn over iters runs, after one warm-up run (CUDA synchronised).
inline double median_ms(const std::function<void()>& fn, int iters, const torch::Device& device) {
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  fn();
  sync();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    sync();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Best milliseconds of fn over iters runs after one warm-up run (CPU).
inline double best_ms(const std::function<void()>& fn, int iters) {
  fn();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace psam::bench
