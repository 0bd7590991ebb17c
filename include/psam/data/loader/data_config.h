// Which dataset a run reads and how its loader makes batches: the store, the split names and
// the loader's options. Plain data; the command line fills it from the `data:` section.
#pragma once

#include <string>

#include "psam/data/loader/loader.h"

namespace psam::data {

struct DataConfig {
  std::string store;  // dataset store directory (psam data ... writes one)
  std::string train_split = "train";
  std::string val_split = "val";
  // batch_size, workers, annotators, intensity, box jitter, prompt source, ... The seed comes
  // from the run's seed and input_size from the model, so those two fields are not read here.
  LoaderOptions loader;
  // Training augmentation, for the train split's loader only.
  AugmentOptions augment;
};

}  // namespace psam::data
