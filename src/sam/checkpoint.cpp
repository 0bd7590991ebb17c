#include "psam/sam/checkpoint.h"

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::sam {

std::string find_sam_prefix(const io::TensorDict& tensors, const std::string& source) {
  static const std::string kAnchor = "image_encoder.pos_embed";
  for (const auto& [name, t] : tensors) {
    if (name.size() >= kAnchor.size() &&
        name.compare(name.size() - kAnchor.size(), kAnchor.size(), kAnchor) == 0) {
      const auto prefix = name.substr(0, name.size() - kAnchor.size());
      if (prefix.empty() || prefix.back() == '.') return prefix;
    }
  }
  fail(fmt::format("{}: no SAM weights found (no tensor named [...]{})", source, kAnchor));
}

LoadedSam load_sam(const io::TensorDict& tensors, const std::optional<SamConfig>& config,
                   int64_t decoder_num_heads, const std::string& source) {
  LoadedSam out;
  out.prefix = find_sam_prefix(tensors, source);
  if (config) {
    out.config = *config;
  } else {
    try {
      out.config = infer_sam_config(tensors.with_prefix_removed(out.prefix), decoder_num_heads);
    } catch (const Error& e) {
      fail(fmt::format("{}: cannot infer the model shape: {}", source, e.what()));
    }
    out.inferred = true;
  }
  out.model = build_sam(out.config);
  io::load_state_dict(*out.model, tensors, out.prefix, source);
  out.model->eval();
  return out;
}

std::string init_sam_from(torch::nn::Module& sam, const std::string& path) {
  const auto tensors = io::read_tensors(path);
  const auto prefix = find_sam_prefix(tensors, path);
  io::load_state_dict(sam, tensors, prefix, path);
  log::info(fmt::format("init_from {}: SAM weights loaded{}", path,
                        prefix.empty() ? "" : " from under '" + prefix + "'"));
  return prefix;
}

}  // namespace psam::sam
