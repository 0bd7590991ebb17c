#include "psam/models/adapter_sam/adapter_sam_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {
namespace {

bool is_adapter_key(const std::string& name) {
  return name.find(".Space_Adapter.") != std::string::npos ||
         name.find(".MLP_Adapter.") != std::string::npos;
}

const ModelConfig& with_frozen_vit(const ModelConfig& config) {
  PSAM_CHECK(!config.prob.trainable.image_encoder,
             "model.kind adapter_sam trains adapters in a frozen ViT: set "
             "model.trainable.image_encoder: false");
  return without_latent_nets(config);
}

}  // namespace

AdapterSamModel::AdapterSamModel(const ModelConfig& config)
    : ProbSamModel(with_frozen_vit(config)) {
  net()->sam->image_encoder->add_adapters(config.adapter_sam.adapters);
}

at::Tensor AdapterSamModel::embeddings(const data::Batch& batch) {
  return net()->sam->image_encoder->forward(batch.image.to(device()));
}

std::vector<ExportPart> AdapterSamModel::export_parts() const {
  return {{"adapter",
           "the SAM state dict with its adapters: official segment_anything names plus "
           "Medical-SAM-Adapter's image_encoder.blocks.N.{Space,MLP}_Adapter.*",
           /*whole_method=*/true}};
}

io::TensorDict AdapterSamModel::export_state(const std::string& part) {
  PSAM_CHECK(part == "adapter", fmt::format("adapter_sam: no export part '{}'", part));
  return io::state_dict(*net()->sam);
}

void AdapterSamModel::init_from_foreign(const io::TensorDict& state, const std::string& source) {
  const std::string prefix = sam::find_sam_prefix(state, source);
  // The file's SAM weights (and adapters, when it has them); our fresh adapters otherwise.
  // Med-SA's 3-D branch (Depth_Adapter) has no use in 2-D.
  const ForeignSam foreign = merge_foreign_sam(
      state, prefix, io::state_dict(*net()->sam), is_adapter_key,
      [](const std::string& name) { return name.find(".Depth_Adapter.") != std::string::npos; });
  io::load_state_dict(*net()->sam, foreign.merged, "", source);
  log::info(fmt::format("model: SAM weights from {}{}; adapters {}{}", source,
                        prefix.empty() ? "" : " (under '" + prefix + "')",
                        foreign.fresh > 0 ? "fresh" : "from the file",
                        foreign.dropped > 0
                            ? fmt::format(" ({} Depth_Adapter tensors left out)", foreign.dropped)
                            : ""));
}

}  // namespace psam::models
