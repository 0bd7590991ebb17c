// The model of a run: the Probabilistic SAM shape and parts (latent_net none = the
// deterministic SAM baseline), and the weights to start from.
#pragma once

#include <string>

#include "psam/prob/prob_sam.h"

namespace psam::train {

struct ModelConfig {
  prob::ProbSamConfig prob;
  // Weights to start from: an official SAM checkpoint (sam_vit_b_01ec64.pth; the SAM weights,
  // bare or nested under "model."/"sam."), or a psam ProbSam state dict / training checkpoint
  // (every tensor the file has for the model is loaded). Empty: fresh weights from run.seed.
  std::string init_from;
};

// A model of config.prob on `device`, initialised from config.init_from when set. psam::Error
// naming the file when its tensors do not fit the model's shape.
prob::ProbSam build_model(const ModelConfig& config, const c10::Device& device);

}  // namespace psam::train
