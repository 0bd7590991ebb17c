// A tiny Probabilistic SAM and a small synthetic store, small enough to train for a few steps
// in a test on CPU.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "psam/data/loader/loader.h"
#include "psam/data/store/store.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/models/model_config.h"
#include "psam/train/train_config.h"
#include "support/testing.h"

namespace psam::test {

inline sam::SamConfig tiny_sam() {
  sam::SamConfig s;
  s.img_size = 32;
  s.patch_size = 8;
  s.encoder_embed_dim = 16;
  s.encoder_depth = 2;
  s.encoder_num_heads = 2;
  s.window_size = 2;
  s.encoder_global_attn_indexes = {1};
  s.prompt_embed_dim = 16;
  s.mask_in_chans = 4;
  s.decoder_depth = 1;
  s.decoder_num_heads = 2;
  s.decoder_mlp_dim = 32;
  s.iou_head_hidden_dim = 16;
  return s;
}

inline models::ModelConfig tiny_model(const std::string& latent_net = "reference") {
  models::ModelConfig m;
  m.prob.sam = tiny_sam();
  m.prob.latent_net = prob::latent_net_kind_from_string(latent_net);
  m.prob.latent_dim = 3;
  return m;
}

// 24 patches of 32 px (or height x width), 4 annotators, split 16/4/4 by patient-sized groups
// of 2.
inline void make_synthetic_store(const std::string& dir, int64_t count = 24, int64_t height = 32,
                                 int64_t width = 32) {
  data::SynthOptions o;
  o.count = count;
  o.size = 32;
  o.height = height;
  o.width = width;
  o.radius_min = 3;
  o.radius_max = 8;
  o.oracle_draws = 0;
  o.samples_per_patient = 2;
  data::SplitOptions split;
  split.fractions = {{"train", 4}, {"val", 1}, {"test", 1}};
  data::generate_synthetic(dir, o, split);
}

// A test with a temporary directory holding make_synthetic_store's store at store_.
class TinyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.path() + "/store";
    make_synthetic_store(store_);
  }
  support::TempDir dir_;
  std::string store_;
};

inline data::LoaderOptions tiny_loader_options(bool training) {
  data::LoaderOptions o;
  o.batch_size = 2;
  o.input_size = 32;
  o.resize_masks = true;
  o.seed = 7;
  o.shuffle = training;
  o.box_jitter = training ? 0.1 : 0.0;
  return o;
}

inline train::TrainConfig tiny_train_config() {
  train::TrainConfig c;
  c.lr = 1e-3;
  c.epochs = 2;
  c.schedule = train::ScheduleKind::kCosine;
  c.warmup_steps = 2;
  c.grad_clip = 1.0;
  c.log_every_steps = 1;
  c.keep_epoch_checkpoints = 1;
  return c;
}

}  // namespace psam::test
