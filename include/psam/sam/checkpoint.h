// A SAM model from a checkpoint's tensors: finds where the SAM weights sit in the file (a bare
// official state dict, or nested, e.g. "model." or "sam."), takes or infers the model shape, and
// loads strictly.
#pragma once

#include <optional>
#include <string>

#include <torch/nn/module.h>

#include "psam/io/tensor_dict.h"
#include "psam/sam/config.h"
#include "psam/sam/sam.h"

namespace psam::sam {

// The prefix in front of "image_encoder.pos_embed" ("" for an official checkpoint); psam::Error
// naming `source` when there is no SAM image encoder in the tensors.
std::string find_sam_prefix(const io::TensorDict& tensors, const std::string& source);

struct LoadedSam {
  Sam model{nullptr};
  SamConfig config;
  std::string prefix;
  bool inferred = false;  // config read off the tensor shapes
};

// config: the model shape, or nullopt to infer it (decoder_num_heads is then needed, since no
// tensor shape shows it). Every SAM weight must be present with the right shape.
LoadedSam load_sam(const io::TensorDict& tensors, const std::optional<SamConfig>& config,
                   int64_t decoder_num_heads, const std::string& source);

// init_from: official SAM / MedSAM weights from `path` into `sam` (a Sam, or the `sam` submodule
// of a ProbSam, whose state-dict names are then "sam." + the official ones). The file may be a
// .pth holding the flat official state dict, one wrapped as {"model": ...} and/or with a
// "module." prefix (DataParallel / DDP training checkpoints such as MedSAM's), any other nesting
// found by find_sam_prefix, or a .safetensors file. Strict: missing weights, unexpected weights
// beside the SAM ones and shape mismatches are all listed by key in one psam::Error naming the
// file; nothing is copied then. Returns the prefix the weights were found under.
std::string init_sam_from(torch::nn::Module& sam, const std::string& path);

}  // namespace psam::sam
