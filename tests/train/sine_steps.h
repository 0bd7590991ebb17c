// The optimiser tests' reference problem: five steps on named parameters with gradients
// g = sin(3 p + t) (the loss -cos(3 p + t) / 3), run here and by torch.optim in PSAM_PYTHON.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "psam/train/optimizer.h"

namespace psam::train::test_sine {

// The parameters' values after the five steps, flattened in order.
inline std::vector<float> five_steps(NamedParameters params, const TrainConfig& config) {
  Optimizer optimizer(params, config);
  for (int t = 0; t < 5; ++t) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::zeros({});
    for (auto& [name, p] : params) loss = loss + (-torch::cos(3 * p + t) / 3).sum();
    loss.backward();  // d/dp = sin(3p + t)
    optimizer.step();
  }
  std::vector<float> out;
  for (auto& [name, p] : params) {
    const auto flat = p.detach().flatten();
    for (int64_t i = 0; i < flat.numel(); ++i) out.push_back(flat[i].item<float>());
  }
  return out;
}

// `torch_lines`: one line of values per optimiser (Adam, AdamW, SGD, in that order), as the
// script printed them; each against mine(kind).
inline void expect_torch_values(const std::string& torch_lines,
                                const std::function<std::vector<float>(OptimizerKind)>& mine) {
  std::istringstream lines(torch_lines);
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd}) {
    std::string line;
    std::getline(lines, line);
    std::istringstream values(line);
    const std::vector<float> ours = mine(kind);
    ASSERT_FALSE(ours.empty());
    for (float v : ours) {
      float expected = 0;
      ASSERT_TRUE(static_cast<bool>(values >> expected)) << name_of(kind) << ": too few values";
      EXPECT_NEAR(v, expected, 2e-6) << name_of(kind);
    }
  }
}

}  // namespace psam::train::test_sine
