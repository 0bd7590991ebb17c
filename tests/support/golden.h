// Locating the golden reference set and comparing tensors with the parity tolerance of
// ../shared/golden/README.md. Header-only: the test glob compiles *_test.cpp files only.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace psam::support {

struct GoldenSet {
  std::filesystem::path dir;
  std::string name;
  // dir / (stem + "_" + name + ext), e.g. file("io", ".pth") -> io_tiny.pth
  std::string file(const std::string& stem, const std::string& ext) const {
    return (dir / (stem + "_" + name + ext)).string();
  }
};

// PSAM_GOLDEN_DIR (default ../shared/golden, relative to the current directory) and
// PSAM_GOLDEN_NAME (default tiny). nullopt, with the reason in *why, when a file of the set is
// absent: `required` as (stem, extension), by default the SAM set's config, sam and io files.
inline std::optional<GoldenSet> find_golden_set(
    std::string* why, const std::vector<std::pair<std::string, std::string>>& required = {
                          {"config", ".json"}, {"sam", ".pth"}, {"io", ".pth"}}) {
  const char* dir = std::getenv("PSAM_GOLDEN_DIR");
  const char* name = std::getenv("PSAM_GOLDEN_NAME");
  GoldenSet set{std::filesystem::absolute(dir && *dir ? dir : "../shared/golden"),
                name && *name ? name : "tiny"};
  for (const auto& [stem, ext] : required) {
    const std::string f = set.file(stem, ext);
    if (!std::filesystem::exists(f)) {
      *why = "golden file " + f + " not found (set PSAM_GOLDEN_DIR / PSAM_GOLDEN_NAME)";
      return std::nullopt;
    }
  }
  return set;
}

// max |out - ref| <= rel * max(1, max |ref|), same shape.
inline ::testing::AssertionResult tensors_close(const std::string& key, const at::Tensor& out,
                                                const at::Tensor& ref, double rel = 1e-4) {
  if (out.sizes() != ref.sizes())
    return ::testing::AssertionFailure()
           << key << ": shape " << out.sizes() << ", reference " << ref.sizes();
  const auto o = out.detach().to(at::kCPU, at::kDouble), r = ref.to(at::kDouble);
  const double err = r.numel() ? (o - r).abs().max().item<double>() : 0.0;
  const double scale = std::max(1.0, r.numel() ? r.abs().max().item<double>() : 0.0);
  if (!(err <= rel * scale))  // also catches NaN
    return ::testing::AssertionFailure() << key << ": max |out - ref| = " << err << " > "
                                         << rel * scale << " (max |ref| scale " << scale << ")";
  return ::testing::AssertionSuccess() << key << ": max |out - ref| = " << err;
}

// Binary masks equal except at pixels whose reference logit is within eps of 0.
inline ::testing::AssertionResult masks_match(const std::string& key, const at::Tensor& out,
                                              const at::Tensor& ref, const at::Tensor& ref_logits,
                                              double eps = 1e-4) {
  if (out.sizes() != ref.sizes())
    return ::testing::AssertionFailure()
           << key << ": shape " << out.sizes() << ", reference " << ref.sizes();
  const auto differ = out.to(at::kCPU, at::kBool) != ref.to(at::kBool);
  const auto undecided = ref_logits.abs() <= eps;
  const int64_t bad = (differ & ~undecided).sum().item<int64_t>();
  if (bad > 0) return ::testing::AssertionFailure() << key << ": " << bad << " pixels differ";
  return ::testing::AssertionSuccess();
}

}  // namespace psam::support
