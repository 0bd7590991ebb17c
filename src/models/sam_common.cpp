#include "models/sam_common.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "psam/data/loader/embedding_cache.h"
#include "psam/io/state_dict.h"
#include "psam/util/error.h"

namespace psam::models {

void set_sam_frame(data::LoaderOptions& options, const sam::SamConfig& sam) {
  options.input_size = sam.img_size;
  options.pixel_mean = sam.pixel_mean;
  options.pixel_std = sam.pixel_std;
}

at::Tensor sam_embeddings(const data::Batch& batch, data::EmbeddingCache* cache,
                          const c10::Device& device,
                          const std::function<at::Tensor(const at::Tensor&)>& encode) {
  const bool from_store =
      std::all_of(batch.index.begin(), batch.index.end(), [](int64_t i) { return i >= 0; });
  if (cache == nullptr || !from_store) return encode(batch.image.to(device));
  const at::Tensor cached =
      cache->get_or_compute(batch.index, [&](const std::vector<int64_t>& rows) {
        const at::Tensor index = at::tensor(rows, at::kLong);
        return encode(batch.image.index_select(0, index).to(device));
      });
  return cached.to(device);
}

CacheableEncoder sam_cacheable_encoder(sam::SamImpl& sam) {
  const sam::SamConfig& c = sam.config();
  const int64_t side = c.image_embedding_size();
  CacheableEncoder e;
  e.fingerprint = data::tensors_fingerprint(io::state_dict(*sam.image_encoder));
  e.shape = {c.prompt_embed_dim, side, side};
  e.input_size = c.img_size;
  return e;
}

c10::optional<at::Generator> cpu_generator(const c10::Device& device, at::Generator generator) {
  if (device.is_cpu()) return generator;
  return c10::nullopt;
}

const ModelConfig& without_latent_nets(const ModelConfig& config) {
  PSAM_CHECK(config.prob.deterministic(),
             fmt::format("model.kind {} has no latent nets: set model.latent_net: none (got {})",
                         config.kind, prob::to_string(config.prob.latent_net)));
  return config;
}

void check_one_case(const data::Batch& batch, const std::string& method) {
  PSAM_CHECK(batch.image.defined() && batch.image.size(0) == 1,
             fmt::format("{}: sample takes a batch of one case, got {}", method,
                         batch.image.defined() ? batch.image.size(0) : 0));
}

bool has_prefix(const io::TensorDict& tensors, const std::string& prefix) {
  for (const auto& entry : tensors) {
    if (entry.first.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

ForeignSam merge_foreign_sam(const io::TensorDict& state, const std::string& prefix,
                             const io::TensorDict& ours,
                             const std::function<bool(const std::string&)>& is_own_part,
                             const std::function<bool(const std::string&)>& drop) {
  ForeignSam out;
  for (const auto& [name, tensor] : ours) {
    if (state.contains(prefix + name)) {
      out.merged.insert(name, state.at(prefix + name));
    } else if (is_own_part(name)) {
      out.merged.insert(name, tensor);
      ++out.fresh;
    }
  }
  for (const auto& [key, tensor] : state) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = key.substr(prefix.size());
    if (ours.contains(name)) continue;
    if (drop(name)) {
      ++out.dropped;
      continue;
    }
    out.merged.insert(name, tensor);
  }
  return out;
}

}  // namespace psam::models
