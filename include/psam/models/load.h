// The one way psam rebuilds a model from a file, used by predict, eval, export and
// model.init_from.
//
// Every file psam writes carries the resolved model section (models::ModelConfig) and the
// intensity mapping of the data it was trained on:
//   training checkpoints   entries "model_config" and "preprocessing" (JSON text)
//   .safetensors exports   __metadata__ "psam_model_config", "psam_preprocessing", "psam_part"
//   .pth exports           the model card beside it, FILE.json: "model_config", "preprocessing"
//                          and weights.part (the .pth itself stays a plain state dict)
// Such a file rebuilds exactly the trained model; a flag that contradicts it is an error naming
// both values. Foreign files (official SAM, MedSAM) and psam files written before configs were
// stored take their shape from the flags or a fallback config (or, for SAM, the tensor shapes).
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <optional>
#include <string>

#include "psam/data/loader/loader.h"
#include "psam/io/tensor_dict.h"
#include "psam/models/model.h"
#include "psam/sam/config.h"

namespace psam::models {

// What a user said about the model on the command line. Any of them may be unset.
struct ModelFlags {
  std::optional<sam::SamConfig> sam;               // --model vit_b | vit_l | vit_h | FILE.json
  std::optional<prob::LatentNetKind> latent_net;   // --latent-net
  std::optional<int64_t> latent_input_size;        // --latent-input-size
  // --decoder-heads: for SAM shapes read off tensors (no tensor shows it; official SAM: 8).
  std::optional<int64_t> decoder_num_heads;
  // --weights ema: a training checkpoint's EMA of the trained parameters (train.ema_decay) in
  // place of their weights; psam::Error naming the file when it holds none.
  bool ema = false;
};

// psam::Error naming both values for every flag that says something else than `stored`.
void check_model_flags(const ModelFlags& flags, const ModelConfig& stored,
                       const std::string& path);

// Where a path's weights are: a run directory gives its best checkpoint (else its last); a
// checkpoint inside RUN/checkpoints/ belongs to RUN. psam::Error for a directory without either.
struct ModelSource {
  std::string checkpoint;
  std::string run_dir;  // empty when the file belongs to no run
};
ModelSource resolve_model_source(const std::string& path);

// A weights file as psam reads it: the model's tensors and what the file says about them.
struct ModelFile {
  std::string path;
  io::TensorDict state;  // the model entry of a checkpoint, else every tensor of the file
  std::optional<ModelConfig> config;      // the stored model section
  std::optional<std::string> preprocessing;  // the stored intensity mapping (data::intensity_json)
  std::string part;  // an export's part (psam export --part); empty for a checkpoint
  io::TensorDict ema;  // a training checkpoint's EMA of the trained parameters; else empty
};
// psam::Error naming the file when it cannot be read or its stored config is malformed.
ModelFile read_model_file(const std::string& path);

struct LoadedModel {
  std::unique_ptr<Model> model;  // in eval mode, on the requested device
  ModelSource source;
  bool stored_config = false;  // false: a foreign or pre-config file, rebuilt from flags/fallback
  std::optional<std::string> preprocessing;  // as stored (data::read_intensity_json)
};

// The model in `path` (a run directory or weights file) on `device`. `fallback`: the model
// section to use for a file that stores none (e.g. the --config a user gave); else the flags and
// the tensor shapes decide. psam::Error naming the file and key on a contradiction, a missing
// or unexpected weight, or a shape mismatch; a one-line warning for a file without a stored
// config, saying how to re-save it with one.
LoadedModel load_model(const std::string& path, const ModelFlags& flags,
                       const std::optional<ModelConfig>& fallback, const c10::Device& device);
// The same from a file already read (read_model_file of source.checkpoint), so that a caller
// who looked at it first does not read a large checkpoint twice.
LoadedModel load_model(const ModelFile& file, ModelSource source, const ModelFlags& flags,
                       const std::optional<ModelConfig>& fallback, const c10::Device& device);

// model.init_from: the weights of `path` into `model` (fresh weights otherwise). A psam file of
// the same kind and shape gives every weight it has; anything else goes through the method's
// init_from_foreign (e.g. the SAM part of official weights).
void init_from(Model& model, const std::string& path);

}  // namespace psam::models
