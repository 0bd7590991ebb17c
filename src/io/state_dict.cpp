#include "psam/io/state_dict.h"

#include <unordered_set>
#include <vector>

#include "psam/util/error.h"

namespace psam::io {
namespace {

void collect(const torch::nn::Module& module, const std::string& prefix, TensorDict& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    out.insert(prefix + p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    out.insert(prefix + b.key(), b.value().detach());
  for (const auto& c : module.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape_str(const at::Tensor& t) {
  if (t.dim() == 0) return "scalar";
  std::string s;
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "x" : "") + std::to_string(t.size(d));
  return s;
}

// "what N [a, b, ...]" with at most a few names, so the message stays one readable line.
std::string listing(const char* what, const std::vector<std::string>& items) {
  constexpr size_t kShown = 8;
  std::string s = fmt::format("{} {} [", what, items.size());
  for (size_t i = 0; i < items.size() && i < kShown; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > kShown) s += fmt::format(", ... {} more", items.size() - kShown);
  return s + "]";
}

}  // namespace

TensorDict state_dict(const torch::nn::Module& module, const std::string& prefix) {
  TensorDict out;
  collect(module, prefix, out);
  return out;
}

void load_state_dict(torch::nn::Module& module, const TensorDict& tensors,
                     const std::string& prefix, const std::string& source) {
  const TensorDict targets = state_dict(module);
  std::vector<std::string> missing, unexpected, mismatched;
  std::unordered_set<std::string> expected;
  for (const auto& [name, target] : targets) {
    const std::string key = prefix + name;
    expected.insert(key);
    if (!tensors.contains(key)) {
      missing.push_back(key);
      continue;
    }
    const auto& src = tensors.at(key);
    if (src.sizes() != target.sizes())
      mismatched.push_back(
          fmt::format("{}: {} in file, {} in model", key, shape_str(src), shape_str(target)));
  }
  for (const auto& [key, t] : tensors)
    if (key.compare(0, prefix.size(), prefix) == 0 && expected.count(key) == 0)
      unexpected.push_back(key);

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = fmt::format("{}: weights do not match the model{}:", source,
                                  prefix.empty() ? "" : " under prefix '" + prefix + "'");
    if (!missing.empty()) msg += " " + listing("missing", missing) + ";";
    if (!unexpected.empty()) msg += " " + listing("unexpected", unexpected) + ";";
    if (!mismatched.empty()) msg += " " + listing("shape mismatch", mismatched) + ";";
    msg.pop_back();
    fail(msg);
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) target.copy_(tensors.at(prefix + name));
}

}  // namespace psam::io
