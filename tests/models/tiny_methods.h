// A small config of every registered method (model.kind), for the tests that run each method
// the same way (device_test, backend_test). A method added to the registry later has none until
// it is added here, and those tests fail for it, naming this file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <memory>

#include "psam/data/loader/loader.h"
#include "psam/models/model_config.h"
#include "psam/models/registry.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::test {

inline std::optional<models::ModelConfig> tiny_config_for(const std::string& kind) {
  models::ModelConfig m = tiny_model("none");
  m.kind = kind;
  if (kind == "prob_sam") return tiny_model("reference");
  if (kind == "prob_unet") {
    m.prob_unet.num_filters = {4, 8};
    m.prob_unet.convs_per_block = 1;
    return m;
  }
  if (kind == "ua_sam") {
    m.ua_sam.latent_dim = 3;
    m.ua_sam.num_filters = {4, 8};
    return m;
  }
  if (kind == "usam") {
    m.usam.hidden = 8;
    return m;
  }
  if (kind == "mc_dropout_sam" || kind == "adapter_sam" || kind == "box_ellipse") return m;
  return std::nullopt;
}

inline std::vector<std::string> registered_kinds() {
  std::vector<std::string> kinds;
  for (const auto& entry : models::registry()) kinds.emplace_back(entry.kind);
  return kinds;
}

// A suite over the registered methods (GetParam(): model.kind) sharing one synthetic store of
// 12 images of height x width, made once per suite, and the first batch a method's loader gives.
template <int64_t Height, int64_t Width>
class MethodsOnStore : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir;
    make_synthetic_store(dir_->path() + "/store", 12, Height, Width);
    store_ = std::make_shared<const data::DatasetStore>(
        data::DatasetStore::open(dir_->path() + "/store"));
  }
  static void TearDownTestSuite() {
    store_.reset();
    delete dir_;
    dir_ = nullptr;
  }

  static data::Batch first_batch(const models::Model& model, bool training,
                                 data::LoaderOptions o) {
    model.prepare_loader(o, training);
    data::Loader loader(store_, store_->split_indices(training ? "train" : "test"), o);
    return *loader.next();
  }

  static inline support::TempDir* dir_ = nullptr;
  static inline std::shared_ptr<const data::DatasetStore> store_;
};

}  // namespace psam::test
