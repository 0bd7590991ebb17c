// The top-level config of a psam run: one member per YAML section, each a library struct with
// its own bind(). To add a section (say `train:` for psam::train::TrainConfig):
//   1. the struct, with defaults, in the library (include/psam/train/...), no YAML there;
//   2. `void bind(Binder&, train::TrainConfig&);` declared below and defined in
//      tools/config/train.cpp;
//   3. a member here and one `b.section("train", c.train, "...")` line in bind(Binder&, Config&).
// Load with config::load<Config>(path, overrides); see binder.h for writing and hashing.
#pragma once

#include "config/binder.h"
#include "psam/data/loader/data_config.h"
#include "psam/dist/dist_config.h"
#include "psam/eval/eval_config.h"
#include "psam/train/loss.h"
#include "psam/models/model_config.h"
#include "psam/train/train_config.h"
#include "psam/util/run_options.h"

namespace psam::config {

struct Config {
  RunOptions run;
  models::ModelConfig model;
  data::DataConfig data;
  train::LossConfig loss;
  train::TrainConfig train;
  eval::EvalConfig eval;
  dist::DistConfig dist;
};

void bind(Binder& b, RunOptions& c);
// model: models::ModelConfig and its parts bind through their describe() templates
// (binder.h), which the JSON of stored model configs shares.
void bind(Binder& b, data::RangeAugment& c);
void bind(Binder& b, data::AffineAugment& c);
void bind(Binder& b, data::ElasticAugment& c);
void bind(Binder& b, data::AugmentOptions& c);
void bind(Binder& b, data::LoaderOptions& c);
void bind(Binder& b, data::DataConfig& c);
void bind(Binder& b, train::LossConfig& c);
void bind(Binder& b, train::TrainConfig& c);
void bind(Binder& b, eval::EvalConfig& c);  // config/eval.cpp
void bind(Binder& b, dist::DistConfig& c);
void bind(Binder& b, Config& c);

// Paths in the config, made absolute (as a new run stores them): the run's config.yaml then
// works from any directory (psam eval --run, --resume).
void make_paths_absolute(Config& c);

}  // namespace psam::config
