// The weight layouts psam exports for other tools, built from a model state dict as psam's
// checkpoints hold it (a SAM state dict, or a Probabilistic SAM one with SAM under "sam.").
//   - official SAM: the flat state dict of segment_anything's Sam (official names and order),
//     which sam_model_registry[...](checkpoint=FILE) loads strictly;
//   - reference Probabilistic SAM: sam.*, prior_net.*, posterior_net.*, fcomb.z_projector.* and
//     fcomb.decoder.*, a copy of sam.mask_decoder.* (the reference module registers the shared
//     mask decoder a second time under fcomb, so its strict load_state_dict expects both).
#pragma once

#include <optional>
#include <string>

#include "psam/io/tensor_dict.h"
#include "psam/sam/config.h"

namespace psam::sam {

// The model state dict of a checkpoint file: the "model" entry of a training checkpoint
// ({"model": state_dict, "optimizer": ..., "epoch": ...}), else every tensor of the file.
io::TensorDict read_model_state_dict(const std::string& path);

// Where a Probabilistic SAM layout's parts sit: the "<root>" in front of "<root>sam.image_encoder."
// when the SAM weights (found by find_sam_prefix) are under a "sam." name component, else nullopt
// (a plain SAM file, or SAM nested under some other name).
std::optional<std::string> prob_sam_root(const io::TensorDict& state, const std::string& source);

// The state dict psam's ProbSam loads (sam.*, prior_net.*, posterior_net.*, fcomb.z_projector.*)
// out of any layout psam writes: a checkpoint's model entry, the same under a common prefix, or
// the reference layout (psam export --part full), whose fcomb.decoder.* duplicate of
// sam.mask_decoder.* is dropped. nullopt when prob_sam_root finds no such layout. The result is
// not checked here: load it with io::load_state_dict, which is strict.
std::optional<io::TensorDict> prob_sam_state(const io::TensorDict& state,
                                             const std::string& source);

// The official SAM state dict of `config`'s shape, taken from the SAM weights in `state` (found
// by find_sam_prefix) and checked strictly as load_sam does. `source` names the input in errors.
io::TensorDict official_sam_state_dict(const io::TensorDict& state, const SamConfig& config,
                                       const std::string& source);

// The reference Probabilistic SAM state dict. `state` holds sam.* (checked strictly against
// config), prior_net.*, posterior_net.* and fcomb.z_projector.*, optionally under a common
// prefix and optionally with fcomb.decoder.* already (it must then equal sam.mask_decoder.*).
// psam::Error listing the keys when a part is missing or a key belongs to none of them.
io::TensorDict reference_prob_sam_state_dict(const io::TensorDict& state, const SamConfig& config,
                                             const std::string& source);

}  // namespace psam::sam
