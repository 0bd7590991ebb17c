// Pieces the SAM-based methods share: the input frame, image embeddings through the embedding
// cache, the cacheable encoder's key, and small checks.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include <functional>
#include <string>

#include "psam/data/loader/loader.h"
#include "psam/io/tensor_dict.h"
#include "psam/models/model.h"
#include "psam/sam/sam.h"

namespace psam::data {
class EmbeddingCache;
}

namespace psam::models {

// The loader's frame for a SAM of `sam`'s shape: its input size and pixel statistics.
void set_sam_frame(data::LoaderOptions& options, const sam::SamConfig& sam);

// The batch's image embeddings [B,C,h,w] on `device`: from `cache` for store images (float16-
// rounded values; missing rows computed by `encode` and stored first), else encode(images).
at::Tensor sam_embeddings(const data::Batch& batch, data::EmbeddingCache* cache,
                          const c10::Device& device,
                          const std::function<at::Tensor(const at::Tensor&)>& encode);

// The cache key parts of a frozen SAM image encoder.
CacheableEncoder sam_cacheable_encoder(sam::SamImpl& sam);

// The CPU generator drives CPU runs; on other devices their default generator does.
c10::optional<at::Generator> cpu_generator(const c10::Device& device, at::Generator generator);

// `config` itself; psam::Error unless its latent_net is none (for the SAM methods without
// latent nets, which share prob_sam's model section).
const ModelConfig& without_latent_nets(const ModelConfig& config);

// psam::Error unless the batch holds exactly one case.
void check_one_case(const data::Batch& batch, const std::string& method);

bool has_prefix(const io::TensorDict& tensors, const std::string& prefix);

// A foreign file's SAM weights (under `prefix`) merged into the names of `ours`, a method's SAM
// with parts of its own: a part the file lacks (`is_own_part`) keeps our fresh tensor; any other
// name under the prefix stays, so that the strict load names it, unless `drop` says the method
// has no use for it (those are counted in `dropped`).
struct ForeignSam {
  io::TensorDict merged;
  int64_t fresh = 0;    // own-part tensors the file did not have
  int64_t dropped = 0;  // file tensors `drop` left out
};
ForeignSam merge_foreign_sam(const io::TensorDict& state, const std::string& prefix,
                             const io::TensorDict& ours,
                             const std::function<bool(const std::string&)>& is_own_part,
                             const std::function<bool(const std::string&)>& drop);

}  // namespace psam::models
