// The embedding cache of a method's frozen image encoder (data::EmbeddingCache) for one store.
#pragma once

#include <memory>
#include <string>

#include "psam/data/loader/embedding_cache.h"
#include "psam/data/store/store.h"
#include "psam/models/model.h"

namespace psam::models {

// The cache of `model`'s cacheable encoder on `store`, with the pixel options of `options` (as
// prepare_loader set them), under `dir`; null when the method has no frozen encoder. Attach it
// with model.set_embedding_cache.
std::unique_ptr<data::EmbeddingCache> open_embedding_cache(Model& model,
                                                           const data::DatasetStore& store,
                                                           const data::LoaderOptions& options,
                                                           const std::string& dir);

}  // namespace psam::models
