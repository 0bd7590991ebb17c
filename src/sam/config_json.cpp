#include "psam/sam/config_json.h"

#include <nlohmann/json.hpp>

#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::sam {
namespace {

template <typename T>
void read_key(const nlohmann::json& j, const char* key, T& field, const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  try {
    field = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(fmt::format("{}: key '{}' has the wrong type ({})", source, key, it->dump()));
  }
}

}  // namespace

SamConfig sam_config_from_json(const nlohmann::json& j, const std::string& source) {
  PSAM_CHECK(j.is_object(), source + ": expected a JSON object of model-shape keys");
  SamConfig c;
  read_key(j, "img_size", c.img_size, source);
  read_key(j, "patch", c.patch_size, source);
  read_key(j, "in_chans", c.in_chans, source);
  read_key(j, "embed_dim", c.encoder_embed_dim, source);
  read_key(j, "depth", c.encoder_depth, source);
  read_key(j, "heads", c.encoder_num_heads, source);
  read_key(j, "mlp_ratio", c.mlp_ratio, source);
  read_key(j, "window", c.window_size, source);
  read_key(j, "global_idx", c.encoder_global_attn_indexes, source);
  read_key(j, "prompt_dim", c.prompt_embed_dim, source);
  read_key(j, "mask_in_chans", c.mask_in_chans, source);
  read_key(j, "dec_depth", c.decoder_depth, source);
  read_key(j, "dec_heads", c.decoder_num_heads, source);
  read_key(j, "dec_mlp", c.decoder_mlp_dim, source);
  read_key(j, "attention_downsample_rate", c.attention_downsample_rate, source);
  read_key(j, "num_multimask_outputs", c.num_multimask_outputs, source);
  read_key(j, "iou_depth", c.iou_head_depth, source);
  read_key(j, "iou_hidden", c.iou_head_hidden_dim, source);
  read_key(j, "pixel_mean", c.pixel_mean, source);
  read_key(j, "pixel_std", c.pixel_std, source);
  static const char* kKnown[] = {"img_size",
                                 "patch",
                                 "in_chans",
                                 "embed_dim",
                                 "depth",
                                 "heads",
                                 "mlp_ratio",
                                 "window",
                                 "global_idx",
                                 "prompt_dim",
                                 "mask_in_chans",
                                 "dec_depth",
                                 "dec_heads",
                                 "dec_mlp",
                                 "attention_downsample_rate",
                                 "num_multimask_outputs",
                                 "iou_depth",
                                 "iou_hidden",
                                 "pixel_mean",
                                 "pixel_std",
                                 "orig_size",
                                 "latent",
                                 "seed"};
  for (const auto& item : j.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), item.key()) == std::end(kKnown))
      log::warn(fmt::format("{}: ignoring unknown key '{}'", source, item.key()));
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail(fmt::format("{}: {}", source, e.what()));
  }
  return c;
}

SamConfig read_sam_config_json(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
    fail(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  return sam_config_from_json(j, path);
}

nlohmann::json sam_config_to_json(const SamConfig& c) {
  return {{"img_size", c.img_size},
          {"patch", c.patch_size},
          {"in_chans", c.in_chans},
          {"embed_dim", c.encoder_embed_dim},
          {"depth", c.encoder_depth},
          {"heads", c.encoder_num_heads},
          {"mlp_ratio", c.mlp_ratio},
          {"window", c.window_size},
          {"global_idx", c.encoder_global_attn_indexes},
          {"prompt_dim", c.prompt_embed_dim},
          {"mask_in_chans", c.mask_in_chans},
          {"dec_depth", c.decoder_depth},
          {"dec_heads", c.decoder_num_heads},
          {"dec_mlp", c.decoder_mlp_dim},
          {"attention_downsample_rate", c.attention_downsample_rate},
          {"num_multimask_outputs", c.num_multimask_outputs},
          {"iou_depth", c.iou_head_depth},
          {"iou_hidden", c.iou_head_hidden_dim},
          {"pixel_mean", c.pixel_mean},
          {"pixel_std", c.pixel_std}};
}

std::optional<SamConfig> config_by_name_or_file(const std::string& model) {
  if (model.empty()) return std::nullopt;
  if (model == "vit_b" || model == "vit_l" || model == "vit_h") return preset(model);
  return read_sam_config_json(model);
}

}  // namespace psam::sam
