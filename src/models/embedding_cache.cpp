#include "psam/models/embedding_cache.h"

namespace psam::models {

std::unique_ptr<data::EmbeddingCache> open_embedding_cache(Model& model,
                                                           const data::DatasetStore& store,
                                                           const data::LoaderOptions& options,
                                                           const std::string& dir) {
  const auto encoder = model.cacheable_encoder();
  if (!encoder) return nullptr;
  data::EmbeddingCacheKey key;
  key.dataset = store.fingerprint();
  key.encoder = encoder->fingerprint;
  key.input_size = encoder->input_size;
  key.intensity = data::intensity_key(options);
  return std::make_unique<data::EmbeddingCache>(dir, key, store.size(), encoder->shape);
}

}  // namespace psam::models
