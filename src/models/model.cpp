#include "psam/models/model.h"

#include <torch/torch.h>

namespace psam::models {

c10::Device Model::device() {
  for (const auto& p : module().parameters()) return p.device();
  for (const auto& b : module().buffers()) return b.device();
  return c10::Device(c10::kCPU);
}

at::Tensor Model::case_embedding(const std::function<at::Tensor()>& compute) {
  if (!in_case_) return compute();
  if (!case_embedding_.defined()) case_embedding_ = compute();
  return case_embedding_;
}

NamedParameters Model::trainable_parameters() {
  NamedParameters out;
  for (const auto& item : module().named_parameters(/*recurse=*/true)) {
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

}  // namespace psam::models
