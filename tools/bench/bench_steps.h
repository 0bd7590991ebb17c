// Seconds per optimiser step of a training task, shared by the training benchmarks.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "psam/data/loader/embedding_cache.h"
#include "psam/data/loader/loader.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/sam/config.h"
#include "psam/train/model_task.h"
#include "psam/train/optimizer.h"

namespace psam::bench {

// A Probabilistic SAM of a SAM preset (vit_b, vit_l, vit_h) or "tiny" (128 px, width 64, depth 4,
// for rehearsals), reference latent nets.
inline models::ModelConfig prob_sam_config(const std::string& model) {
  models::ModelConfig m;
  if (model == "tiny") {
    m.prob.sam.img_size = 128;
    m.prob.sam.patch_size = 8;
    m.prob.sam.encoder_embed_dim = 64;
    m.prob.sam.encoder_depth = 4;
    m.prob.sam.encoder_num_heads = 4;
    m.prob.sam.window_size = 4;
    m.prob.sam.encoder_global_attn_indexes = {1, 3};
    m.prob.sam.prompt_embed_dim = 64;
  } else {
    m.prob.sam = sam::preset(model);
  }
  return m;
}

// A fresh directory `dir` (emptied) holding a synthetic store of `count` patches, all in the
// split "train".
inline void make_train_store(const std::string& dir, int64_t count) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  data::SynthOptions synth;
  synth.count = count;
  synth.oracle_draws = 0;
  synth.samples_per_patient = 1;
  data::SplitOptions split;
  split.fractions = {{"train", 1.0}};
  data::generate_synthetic(dir + "/store", synth, split);
}

// `steps` optimiser steps after one warm-up step, on the loader's batches (restarted when it
// runs out); CUDA work is synchronised before the clock stops.
inline double seconds_per_step(train::ModelTask& task, data::Loader& loader, int steps,
                               const c10::Device& device) {
  train::TrainConfig config;
  train::Optimizer optimizer(task.trainable_parameters(), config);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(0);
  std::chrono::steady_clock::time_point start;
  for (int i = 0; i <= steps; ++i) {
    if (i == 1) {
      if (device.is_cuda()) torch::cuda::synchronize();
      start = std::chrono::steady_clock::now();
    }
    auto batch = loader.next();
    if (!batch) batch = loader.next();
    optimizer.zero_grad();
    task.loss(*batch, i, generator).total.backward();
    optimizer.step();
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / steps;
}

// A Probabilistic SAM's embedding cache in `dir`, filled for the store's `indices` as a first
// training epoch fills it, and the seconds that took per image.
inline std::pair<std::unique_ptr<data::EmbeddingCache>, double> filled_embedding_cache(
    models::ProbSamModel& model, const std::shared_ptr<const data::DatasetStore>& store,
    const std::vector<int64_t>& indices, const data::LoaderOptions& options,
    const std::string& dir, const c10::Device& device) {
  std::filesystem::remove_all(dir);
  auto cache = models::open_embedding_cache(model, *store, options, dir);
  data::Loader loader(store, indices, options);
  const auto start = std::chrono::steady_clock::now();
  while (auto batch = loader.next()) {
    torch::NoGradGuard no_grad;
    cache->get_or_compute(batch->index, [&](const std::vector<int64_t>& rows) {
      return model.net()->embed(batch->image.index_select(0, torch::tensor(rows)).to(device));
    });
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {std::move(cache), seconds / static_cast<double>(indices.size())};
}

// Seconds per optimiser step of `model` (a Probabilistic SAM) on the store in dir/store:
// without the embedding cache, then with one filled in dir/cache; and the seconds that filling
// took per image. The cache is detached from the model before it is returned.
struct CachedStepTimes {
  double uncached = 0, cached = 0, fill_per_image = 0;
};
inline CachedStepTimes time_cached_and_uncached_steps(models::Model& model, const std::string& dir,
                                                      int steps, const c10::Device& device) {
  const auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir + "/store"));
  data::LoaderOptions o;
  model.prepare_loader(o, /*training=*/true);
  const auto indices = store->split_indices("train");
  train::ModelTask task(model, train::LossConfig{});
  CachedStepTimes t;
  data::Loader plain(store, indices, o);
  t.uncached = seconds_per_step(task, plain, steps, device);
  auto [cache, fill] = filled_embedding_cache(static_cast<models::ProbSamModel&>(model), store,
                                              indices, o, dir + "/cache", device);
  t.fill_per_image = fill;
  model.set_embedding_cache(cache.get());
  data::Loader cached(store, indices, o);
  t.cached = seconds_per_step(task, cached, steps, device);
  model.set_embedding_cache(nullptr);
  return t;
}

}  // namespace psam::bench
