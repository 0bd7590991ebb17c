// A method trained by the generic trainer on a store's train split, validated on its val split,
// as `psam train` runs it; the run's epoch lines of metrics.jsonl for the tests to read.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "psam/models/model.h"
#include "psam/train/model_task.h"
#include "psam/train/trainer.h"
#include "psam/util/fs.h"
#include "train/train_fixture.h"

namespace psam::test {

struct MethodRun {
  train::TrainResult result;
  std::vector<nlohmann::json> epochs;  // the "epoch" lines, in order
};

// `tweak` sets further trainer options (precision, device, resume, a stop step).
inline MethodRun train_method(models::Model& model,
                              const std::shared_ptr<const data::DatasetStore>& store,
                              const train::TrainConfig& config, const train::LossConfig& loss,
                              const std::string& run_dir,
                              const std::function<void(train::TrainerOptions&)>& tweak = {}) {
  auto train_options = tiny_loader_options(true);
  auto val_options = tiny_loader_options(false);
  model.prepare_loader(train_options, true);
  model.prepare_loader(val_options, false);
  data::Loader train_loader(store, store->split_indices("train"), train_options);
  data::Loader val_loader(store, store->split_indices("val"), val_options);
  train::ModelTask task(model, loss);
  train::TrainerOptions options;
  options.config = config;
  options.run_dir = run_dir;
  options.seed = 7;
  options.config_hash = "test";
  options.progress.tty = false;
  if (tweak) tweak(options);
  MethodRun run;
  run.result = train::train(task, train_loader, &val_loader, options);
  std::istringstream lines(read_file(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "epoch") run.epochs.push_back(std::move(j));
  }
  return run;
}

}  // namespace psam::test
