// Access to ../shared/golden/metrics_cases.pth (reference values of PHiSeg's and MoSE's metric
// code; see metrics_README.md there) for the metrics tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "psam/util/fs.h"

namespace psam::test {

// The golden file's path: in $PSAM_GOLDEN_DIR, else ../shared/golden beside the source tree.
inline std::string metrics_golden_path() {
  const char* golden = std::getenv("PSAM_GOLDEN_DIR");
  const std::string dir = golden ? golden : std::string(PSAM_SOURCE_DIR) + "/../shared/golden";
  return dir + "/metrics_cases.pth";
}

// The plain str -> Tensor dict of the golden file.
class GoldenMetrics {
 public:
  GoldenMetrics() : path_(metrics_golden_path()) {
    if (!std::filesystem::exists(path_)) return;
    const std::string bytes = psam::read_file(path_);
    dict_ = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
    available_ = true;
  }
  bool available() const { return available_; }
  const std::string& path() const { return path_; }
  int64_t num_cases() const { return get("num_cases").item<int64_t>(); }
  at::Tensor get(const std::string& key) const { return dict_.at(key).toTensor(); }
  at::Tensor get(int64_t c, const std::string& field) const {
    return get("case" + std::to_string(c) + "." + field);
  }
  double scalar(int64_t c, const std::string& field) const { return get(c, field).item<double>(); }

 private:
  std::string path_;
  bool available_ = false;
  c10::Dict<c10::IValue, c10::IValue> dict_{c10::AnyType::get(), c10::AnyType::get()};
};

// The golden tolerance: |got - ref| <= 1e-6 |ref| + 1e-9.
inline ::testing::AssertionResult near_golden(double got, double ref) {
  if (std::abs(got - ref) <= 1e-6 * std::abs(ref) + 1e-9) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << fmt::format("{:.17g}", got) << ", reference " << fmt::format("{:.17g}", ref)
         << ", |diff| " << std::abs(got - ref);
}

inline ::testing::AssertionResult near_golden(const at::Tensor& got, const at::Tensor& ref) {
  if (got.sizes() != ref.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << got.sizes() << " vs reference " << ref.sizes();
  }
  const at::Tensor g = got.to(torch::kCPU, torch::kDouble);
  const at::Tensor r = ref.to(torch::kCPU, torch::kDouble);
  const at::Tensor bad = (g - r).abs() > r.abs() * 1e-6 + 1e-9;
  if (!bad.any().item<bool>()) return ::testing::AssertionSuccess();
  const at::Tensor idx = bad.nonzero()[0];
  std::vector<int64_t> index;
  at::Tensor g_at = g, r_at = r;
  for (int64_t k = 0; k < idx.size(0); ++k) {
    index.push_back(idx[k].item<int64_t>());
    g_at = g_at[index.back()];
    r_at = r_at[index.back()];
  }
  return ::testing::AssertionFailure()
         << bad.sum().item<int64_t>() << " entries off; first at " << c10::IntArrayRef(index)
         << ": got " << fmt::format("{:.17g}", g_at.item<double>()) << ", reference "
         << fmt::format("{:.17g}", r_at.item<double>());
}

}  // namespace psam::test

// Skips the test when ../shared (not part of a user's clone) is absent.
#define PSAM_REQUIRE_GOLDEN_METRICS(golden)                 \
  if (!(golden).available())                                \
  GTEST_SKIP() << "golden metrics file " << (golden).path() \
               << " not found (../shared is not part of a fresh clone; or set PSAM_GOLDEN_DIR)"
