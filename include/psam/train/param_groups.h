// Per-parameter optimiser options from the train: section, as timm's and mmengine's parameter
// groups: a learning-rate multiplier by part (train.lr_mult), layer-wise decay of ViT image
// encoders (train.layer_decay) and no weight decay on norms, biases and position tables
// (train.weight_decay_exempt). Resolved once per run and logged as one table.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "psam/train/train_config.h"

namespace psam::train {

using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

struct ParamOptions {
  double lr_mult = 1.0;  // the parameter's lr is the scheduled lr times this
  double weight_decay = 0.0;
};

// One entry per parameter, in order. psam::Error when an lr_mult key matches no parameter, or
// when two keys of the same length both match one parameter.
std::vector<ParamOptions> resolve_param_options(const NamedParameters& parameters,
                                                const TrainConfig& config);

// Whether train.weight_decay_exempt spares the parameter: 1-D (norms, biases), "*.bias",
// "pos_embed" and relative-position tables ("rel_pos_h", "rel_pos_w").
bool decay_exempt(const std::string& name, const at::Tensor& parameter);

// Layer-wise decay of a ViT encoder (BEiT / MAE): the factor of a parameter under an
// "image_encoder" component whose blocks number `depth`: patch_embed and pos_embed
// decay^(depth + 1), blocks.i decay^(depth - i), anything else (the neck) 1. Parameters outside an
// image encoder get 1.
double layer_decay_factor(const std::string& name, int64_t depth, double decay);

// The resolved groups (equal options) as a text table: multiplier, weight decay, tensors,
// elements and the parts they cover.
std::string param_groups_table(const NamedParameters& parameters,
                               const std::vector<ParamOptions>& options);

}  // namespace psam::train
