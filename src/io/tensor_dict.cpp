#include "psam/io/tensor_dict.h"

#include "psam/util/error.h"

namespace psam::io {

void TensorDict::insert(const std::string& name, const at::Tensor& tensor) {
  PSAM_CHECK(!contains(name), "tensor '" + name + "' appears twice");
  index_.emplace(name, entries_.size());
  entries_.emplace_back(name, tensor);
}

const at::Tensor& TensorDict::at(const std::string& name, const std::string& what) const {
  auto it = index_.find(name);
  PSAM_CHECK(it != index_.end(),
             (what.empty() ? std::string() : what + ": ") + "no tensor named '" + name + "'");
  return entries_[it->second].second;
}

std::vector<std::string> TensorDict::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

TensorDict TensorDict::with_prefix_removed(const std::string& prefix) const {
  TensorDict out;
  for (const auto& [name, t] : entries_)
    if (name.compare(0, prefix.size(), prefix) == 0) out.insert(name.substr(prefix.size()), t);
  return out;
}

TensorDict TensorDict::with_prefix_added(const std::string& prefix) const {
  TensorDict out;
  for (const auto& [name, t] : entries_) out.insert(prefix + name, t);
  return out;
}

}  // namespace psam::io
