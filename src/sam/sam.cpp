#include "psam/sam/sam.h"

#include <fmt/ostream.h>

#include "psam/geometry/frame.h"
#include "psam/util/error.h"

namespace psam::sam {

SamImpl::SamImpl(const SamConfig& config) : config_(config) {
  config.validate();
  const int64_t e = config.image_embedding_size();
  image_encoder = register_module("image_encoder", ImageEncoderViT(config));
  prompt_encoder = register_module(
      "prompt_encoder", PromptEncoder(config.prompt_embed_dim, std::array<int64_t, 2>{e, e},
                                      std::array<int64_t, 2>{config.img_size, config.img_size},
                                      config.mask_in_chans));
  mask_decoder = register_module(
      "mask_decoder",
      MaskDecoder(
          config.prompt_embed_dim,
          TwoWayTransformer(config.decoder_depth, config.prompt_embed_dim, config.decoder_num_heads,
                            config.decoder_mlp_dim, config.attention_downsample_rate),
          config.num_multimask_outputs, config.iou_head_depth, config.iou_head_hidden_dim));
}

torch::Tensor SamImpl::preprocess(const torch::Tensor& x) const {
  const int64_t size = config_.img_size;
  PSAM_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) <= size && x.size(3) <= size,
             fmt::format("Sam.preprocess: expected [B,3,h,w] with h,w <= {}, got {}", size,
                         fmt::streamed(x.sizes())));
  const auto opts = x.options().dtype(x.is_floating_point() ? x.scalar_type() : torch::kFloat);
  const auto mean =
      torch::tensor({config_.pixel_mean[0], config_.pixel_mean[1], config_.pixel_mean[2]})
          .to(opts)
          .view({-1, 1, 1});
  const auto std = torch::tensor({config_.pixel_std[0], config_.pixel_std[1], config_.pixel_std[2]})
                       .to(opts)
                       .view({-1, 1, 1});
  const auto normed = (x.to(opts) - mean) / std;
  return torch::constant_pad_nd(normed, {0, size - x.size(3), 0, size - x.size(2)}, 0);
}

torch::Tensor SamImpl::postprocess_masks(const torch::Tensor& masks,
                                         std::array<int64_t, 2> input_size,
                                         std::array<int64_t, 2> original_size) const {
  return geometry::crop_frame_to_image(masks, config_.img_size, input_size, original_size);
}

Sam build_sam(const SamConfig& config) { return Sam(config); }

}  // namespace psam::sam
