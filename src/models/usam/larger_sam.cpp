#include "psam/models/usam/larger_sam.h"

#include <fmt/format.h>

#include "psam/io/state_dict.h"
#include "psam/models/load.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/resize_positions.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {

sam::Sam load_larger_sam(const std::string& path, const sam::SamConfig& frame,
                         const c10::Device& device) {
  try {
    const ModelSource source = resolve_model_source(path);
    const ModelFile file = read_model_file(source.checkpoint);
    const std::string prefix = sam::find_sam_prefix(file.state, file.path);
    const io::TensorDict weights = file.state.with_prefix_removed(prefix);
    // No tensor shows the decoder's head count: a psam file stores it, official SAM has 8.
    sam::SamConfig config =
        sam::infer_sam_config(weights, file.config ? file.config->prob.sam.decoder_num_heads : 8);
    const int64_t stored_size = config.img_size;
    config.img_size = frame.img_size;
    config.pixel_mean = frame.pixel_mean;
    config.pixel_std = frame.pixel_std;
    config.validate();
    sam::Sam larger = sam::build_sam(config);
    io::load_state_dict(*larger,
                        sam::resize_position_tables(weights, io::state_dict(*larger), file.path),
                        "", file.path);
    for (auto& p : larger->parameters()) p.requires_grad_(false);
    larger->eval();
    larger->to(device);
    log::info(fmt::format(
        "usam: model gap against the SAM of {} ({} blocks of width {}, {} px, "
        "run at {} px)",
        file.path, config.encoder_depth, config.encoder_embed_dim, stored_size, config.img_size));
    return larger;
  } catch (const Error& e) {
    fail(fmt::format("model.usam.model_gap_from {}: {}", path, e.what()));
  }
}

}  // namespace psam::models
