// The whole Segment Anything model (official modeling/sam.py): the three modules under their
// official names, plus the pixel normalisation/padding in front of the encoder and the mask
// upscaling behind the decoder.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <array>

#include "psam/sam/config.h"
#include "psam/sam/image_encoder.h"
#include "psam/sam/mask_decoder.h"
#include "psam/sam/prompt_encoder.h"

namespace psam::sam {

class SamImpl : public torch::nn::Module {
 public:
  explicit SamImpl(const SamConfig& config);

  // [B,3,h,w] RGB in 0..255 with max(h,w) <= img_size -> normalised by pixel_mean/std and
  // zero-padded at the bottom/right to [B,3,img_size,img_size].
  torch::Tensor preprocess(const torch::Tensor& x) const;
  // Low-res logits [B,M,4e,4e] -> [B,M,H,W] at the original image size: upscaled to the padded
  // input, cropped to input_size (the resized image before padding), upscaled to original_size.
  torch::Tensor postprocess_masks(const torch::Tensor& masks, std::array<int64_t, 2> input_size,
                                  std::array<int64_t, 2> original_size) const;

  const SamConfig& config() const { return config_; }
  int64_t img_size() const { return config_.img_size; }
  // Logits above this are mask pixels.
  static constexpr double mask_threshold = 0.0;

  ImageEncoderViT image_encoder{nullptr};
  PromptEncoder prompt_encoder{nullptr};
  MaskDecoder mask_decoder{nullptr};

 private:
  SamConfig config_;
};
TORCH_MODULE(Sam);

// A model of the given shape with freshly initialised weights (load a checkpoint after).
Sam build_sam(const SamConfig& config);

}  // namespace psam::sam
