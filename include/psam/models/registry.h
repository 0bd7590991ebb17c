// The methods psam knows, one entry each: model.kind selects one. Adding a method is a folder
// under models/ (its Model subclass and, if it has options, a config section in
// model_config.h) plus one line in registry.cpp.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include "psam/models/model.h"

namespace psam::models {

struct ModelEntry {
  const char* kind;
  const char* summary;  // one line for `psam info --models` and the docs
  // A model of `config` (validated) with fresh weights on the CPU.
  std::unique_ptr<Model> (*make)(const ModelConfig& config);
  // The method learns weights from data. One that does not (a fixed rule such as box_ellipse)
  // is refused by psam train and runs without a checkpoint (build_unlearned).
  bool learns = true;
};

// Every method, in a fixed order (the order reports list them in).
const std::vector<ModelEntry>& registry();
// The entry of `kind`; psam::Error naming the known kinds otherwise.
const ModelEntry& registry_entry(const std::string& kind);

// A model of `config` with fresh weights (seeded by the caller's torch::manual_seed),
// initialised from config.init_from when set, on `device`.
std::unique_ptr<Model> build_model(const ModelConfig& config, const c10::Device& device);

// A method that learns nothing, built from its kind alone (default options) on `device`:
// psam eval --kind and psam predict --kind. psam::Error naming the kind for one that learns
// weights (it needs a checkpoint).
std::unique_ptr<Model> build_unlearned(const std::string& kind, const c10::Device& device);

}  // namespace psam::models
