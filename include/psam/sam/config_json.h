// The SAM model-shape JSON (the schema of the golden config_<name>.json files, also accepted by
// `psam predict --model FILE`) <-> psam::SamConfig.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "psam/sam/config.h"

namespace psam::sam {

// Keys: img_size, patch, embed_dim, depth, heads, global_idx, window, prompt_dim, dec_heads,
// dec_mlp, iou_hidden, mask_in_chans; optional: in_chans, mlp_ratio, dec_depth,
// attention_downsample_rate, num_multimask_outputs, iou_depth, pixel_mean, pixel_std. Keys that
// describe no model shape (orig_size, latent, seed) are ignored; any other key is warned about.
// Missing keys keep the vit_b value. `source` names the file in errors.
SamConfig sam_config_from_json(const nlohmann::json& j, const std::string& source);
SamConfig read_sam_config_json(const std::string& path);
// Every key above, so that sam_config_from_json(sam_config_to_json(c)) == c.
nlohmann::json sam_config_to_json(const SamConfig& c);

// A SAM shape by preset name (vit_b | vit_l | vit_h) or model-shape JSON file; "" = nullopt (the
// caller infers the shape, e.g. from a checkpoint).
std::optional<SamConfig> config_by_name_or_file(const std::string& model);

}  // namespace psam::sam
