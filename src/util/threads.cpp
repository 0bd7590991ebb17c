#include "psam/util/threads.h"

#include <cstdlib>
#include <string>
#include <thread>

namespace psam {

namespace {

// OMP_NUM_THREADS as PyTorch and cluster schedulers (Slurm, torchrun) set it; 0 if unset or
// not a positive integer.
int threads_from_environment() {
  const char* value = std::getenv("OMP_NUM_THREADS");
  if (value == nullptr) return 0;
  try {
    size_t used = 0;
    const int n = std::stoi(value, &used);
    return used == std::string(value).size() && n > 0 ? n : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

void set_num_threads(int n) {
  if (n <= 0) n = threads_from_environment();
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
}

}  // namespace psam
