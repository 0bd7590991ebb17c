// An ordered name -> tensor map: the in-memory form of a state dict, a .safetensors file or a
// flattened checkpoint. Order is kept because torch.save and safetensors keep it.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace psam::io {

class TensorDict {
 public:
  using Entry = std::pair<std::string, at::Tensor>;

  // Throws psam::Error on a duplicate name.
  void insert(const std::string& name, const at::Tensor& tensor);
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws psam::Error naming the missing key (and `what`, e.g. the file it came from).
  const at::Tensor& at(const std::string& name, const std::string& what = "") const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  std::vector<std::string> keys() const;

  // Entries whose name starts with prefix, with the prefix removed ("sam." -> inner names).
  TensorDict with_prefix_removed(const std::string& prefix) const;
  // Every name prefixed (the inverse of with_prefix_removed).
  TensorDict with_prefix_added(const std::string& prefix) const;

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace psam::io
