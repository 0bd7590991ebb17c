#include "psam/sam/adapter.h"

#include <fmt/format.h>
#include <torch/nn/functional/activation.h>

#include "psam/util/error.h"

namespace psam::sam {

AdapterImpl::AdapterImpl(int64_t features, double mlp_ratio, bool skip_connect)
    : skip_connect_(skip_connect) {
  // Med-SA: int(D_features * mlp_ratio).
  const auto hidden = static_cast<int64_t>(static_cast<double>(features) * mlp_ratio);
  PSAM_CHECK(hidden >= 1,
             fmt::format("adapter: a bottleneck of {} x {} has no width", features, mlp_ratio));
  D_fc1 = register_module("D_fc1", torch::nn::Linear(features, hidden));
  D_fc2 = register_module("D_fc2", torch::nn::Linear(hidden, features));
}

torch::Tensor AdapterImpl::forward(const torch::Tensor& x) {
  const auto xs = D_fc2(torch::nn::functional::gelu(D_fc1(x)));
  return skip_connect_ ? x + xs : xs;
}

}  // namespace psam::sam
