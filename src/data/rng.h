// Counter-based random numbers for the data layer. A stream is keyed by integers (seed, epoch,
// sample index, purpose, ...), so a value never depends on which thread asks or in what order:
// generated datasets and loader batches are identical for any worker count and resume exactly.
// The distributions are written out here because std::normal_distribution & co. differ between
// standard libraries, which would make a "seeded" dataset platform-dependent.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace psam::data {

// SplitMix64 finaliser: a bijective 64-bit mix with full avalanche.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(std::initializer_list<uint64_t> keys) {
    uint64_t s = 0x243F6A8885A308D3ULL;
    for (uint64_t k : keys) s = mix64(s ^ mix64(k));
    state_ = s;
  }

  uint64_t next_u64() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return mix64(state_);
  }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  // Uniform integer in [0, n), n > 0, without modulo bias (rejection of the short last block).
  int64_t below(int64_t n) {
    const uint64_t un = static_cast<uint64_t>(n);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return static_cast<int64_t>(x % un);
  }
  // Standard normal by Box-Muller (one value per call; the pair's sine half is dropped so the
  // stream position does not depend on call parity).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

// Fisher-Yates shuffle driven by rng.
template <typename T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i)
    std::swap(v[i], v[rng.below(i + 1)]);
}

}  // namespace psam::data
