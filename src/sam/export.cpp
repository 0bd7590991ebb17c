#include "psam/sam/export.h"

#include <array>

#include "psam/io/format.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/util/error.h"

namespace psam::sam {
namespace {

constexpr std::array<const char*, 3> kLatentParts = {"prior_net.", "posterior_net.",
                                                     "fcomb.z_projector."};
constexpr const char* kSharedDecoder = "fcomb.decoder.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The first few names, so that the message stays one readable line.
std::string some_keys(const std::vector<std::string>& keys) {
  constexpr size_t kShown = 6;
  std::string s;
  for (size_t i = 0; i < keys.size() && i < kShown; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > kShown) s += fmt::format(", ... {} more", keys.size() - kShown);
  return s;
}

}  // namespace

io::TensorDict read_model_state_dict(const std::string& path) {
  if (io::detect_format(path) != io::FileFormat::kTorchZip) return io::read_tensors(path);
  const auto obj = io::read_pth(path);
  if (obj.isGenericDict()) {
    for (const auto& item : obj.toGenericDict()) {
      if (item.key().isString() && item.key().toStringRef() == "model" &&
          item.value().isGenericDict())
        return io::flatten_tensors(item.value());
    }
  }
  return io::flatten_tensors(obj);
}

io::TensorDict official_sam_state_dict(const io::TensorDict& state, const SamConfig& config,
                                       const std::string& source) {
  const auto loaded = load_sam(state, config, config.decoder_num_heads, source);
  return io::state_dict(*loaded.model);
}

std::optional<std::string> prob_sam_root(const io::TensorDict& state, const std::string& source) {
  const auto sam_prefix = find_sam_prefix(state, source);
  const size_t n = sam_prefix.size();
  const bool under_sam =
      n >= 4 && sam_prefix.compare(n - 4, 4, "sam.") == 0 && (n == 4 || sam_prefix[n - 5] == '.');
  if (!under_sam) return std::nullopt;
  return sam_prefix.substr(0, n - 4);
}

std::optional<io::TensorDict> prob_sam_state(const io::TensorDict& state,
                                             const std::string& source) {
  const auto root = prob_sam_root(state, source);
  if (!root) return std::nullopt;
  io::TensorDict out;
  for (const auto& [key, t] : state) {
    if (!starts_with(key, *root)) continue;
    auto name = key.substr(root->size());
    if (!starts_with(name, kSharedDecoder)) out.insert(name, t);
  }
  return out;
}

io::TensorDict reference_prob_sam_state_dict(const io::TensorDict& state, const SamConfig& config,
                                             const std::string& source) {
  const auto found_root = prob_sam_root(state, source);
  PSAM_CHECK(found_root.has_value(),
             fmt::format("{}: not a Probabilistic SAM state dict: the SAM weights are under '{}', "
                         "expected 'sam.' beside prior_net.*, posterior_net.*, fcomb.z_projector.*",
                         source, find_sam_prefix(state, source)));
  const auto& root = *found_root;
  const auto sam_prefix = root + "sam.";

  io::TensorDict out = official_sam_state_dict(state, config, source).with_prefix_added("sam.");
  io::TensorDict latent, shared_decoder;
  std::vector<std::string> unexpected;
  for (const auto& [key, t] : state) {
    if (!starts_with(key, root) || starts_with(key, sam_prefix)) continue;
    const auto name = key.substr(root.size());
    bool known = false;
    for (const char* part : kLatentParts) known = known || starts_with(name, part);
    if (known)
      latent.insert(name, t);
    else if (starts_with(name, kSharedDecoder))
      shared_decoder.insert(name, t);
    else
      unexpected.push_back(key);
  }
  std::vector<std::string> missing;
  for (const char* part : kLatentParts) {
    bool found = false;
    for (const auto& [name, t] : latent) found = found || starts_with(name, part);
    if (!found) missing.push_back(root + part + "*");
  }
  PSAM_CHECK(missing.empty(),
             fmt::format("{}: not a Probabilistic SAM state dict: missing {} (a deterministic "
                         "model has no latent nets; export its SAM part instead)",
                         source, some_keys(missing)));
  PSAM_CHECK(unexpected.empty(),
             fmt::format("{}: {} weights belong to no part of Probabilistic SAM: {}", source,
                         unexpected.size(), some_keys(unexpected)));
  for (const auto& entry : latent) out.insert(entry.first, entry.second);

  // The reference registers the SAM mask decoder a second time as fcomb.decoder.
  const auto decoder = out.with_prefix_removed("sam.mask_decoder.");
  std::vector<std::string> differing;
  for (const auto& [name, t] : shared_decoder) {
    const auto inner = name.substr(std::string(kSharedDecoder).size());
    if (!decoder.contains(inner) || !decoder.at(inner).equal(t.to(decoder.at(inner).dtype())))
      differing.push_back(root + name);
  }
  PSAM_CHECK(
      differing.empty() && (shared_decoder.empty() || shared_decoder.size() == decoder.size()),
      fmt::format("{}: fcomb.decoder.* must be the same weights as sam.mask_decoder.*; "
                  "{} of {} differ or are extra: {}",
                  source, differing.size(), shared_decoder.size(), some_keys(differing)));
  for (const auto& [name, t] : decoder) out.insert(kSharedDecoder + name, t);
  return out;
}

}  // namespace psam::sam
