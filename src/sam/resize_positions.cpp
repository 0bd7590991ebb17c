#include "psam/sam/resize_positions.h"

#include <fmt/format.h>
#include <torch/nn/functional/upsampling.h>

#include <map>
#include <vector>

#include "psam/util/log.h"

namespace psam::sam {
namespace {

namespace F = torch::nn::functional;

// The name from "image_encoder." on, or "" when `name` has no position table.
std::string position_table_name(const std::string& name) {
  const auto at = name.rfind("image_encoder.");
  if (at == std::string::npos) return "";
  const std::string rest = name.substr(at);
  const auto ends_with = [&](const std::string& tail) {
    return rest.size() >= tail.size() && rest.compare(rest.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (rest == "image_encoder.pos_embed") return rest;
  if (rest.rfind("image_encoder.blocks.", 0) == 0 &&
      (ends_with(".attn.rel_pos_h") || ends_with(".attn.rel_pos_w")))
    return rest;
  return "";
}

}  // namespace

at::Tensor resize_pos_embed(const at::Tensor& pos_embed, int64_t h, int64_t w) {
  const auto opts = F::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{h, w})
                        .mode(torch::kBicubic)
                        .align_corners(false);
  return F::interpolate(pos_embed.permute({0, 3, 1, 2}), opts).permute({0, 2, 3, 1}).contiguous();
}

at::Tensor resize_rel_pos(const at::Tensor& rel_pos, int64_t length) {
  const auto opts = F::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{length})
                        .mode(torch::kLinear)
                        .align_corners(false);
  // [L,C] -> [1,C,L] -> [1,C,length] -> [length,C]
  return F::interpolate(rel_pos.t().unsqueeze(0), opts).squeeze(0).t().contiguous();
}

io::TensorDict resize_position_tables(const io::TensorDict& state, const io::TensorDict& target,
                                      const std::string& source) {
  std::map<std::string, at::Tensor> wanted;
  for (const auto& [name, t] : target) {
    const std::string key = position_table_name(name);
    if (!key.empty()) wanted.emplace(key, t);
  }
  io::TensorDict out;
  int64_t resized = 0;
  std::string pos_note;
  for (const auto& [name, t] : state) {
    const auto it = wanted.find(position_table_name(name));
    if (it == wanted.end() || t.sizes() == it->second.sizes() ||
        t.dim() != it->second.dim() || t.size(-1) != it->second.size(-1)) {
      out.insert(name, t);  // same shape, or a mismatch the strict load reports
      continue;
    }
    const at::Tensor& want = it->second;
    if (t.dim() == 4 && t.size(0) == 1 && want.size(0) == 1) {
      out.insert(name, resize_pos_embed(t, want.size(1), want.size(2)).to(t.dtype()));
      pos_note = fmt::format("pos_embed {}x{} -> {}x{} (bicubic)", t.size(1), t.size(2),
                             want.size(1), want.size(2));
    } else if (t.dim() == 2) {
      out.insert(name, resize_rel_pos(t, want.size(0)).to(t.dtype()));
      ++resized;
    } else {
      out.insert(name, t);
    }
  }
  if (!pos_note.empty() || resized > 0)
    log::info(fmt::format("{}: weights of another input size: {}{}{} relative-position tables "
                          "resized (linear)",
                          source, pos_note, pos_note.empty() ? "" : "; ", resized));
  return out;
}

}  // namespace psam::sam
