// psam predict: the arguments and the pieces the SAM and the Probabilistic SAM (--samples)
// paths share.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "psam/sam/predictor.h"

namespace psam::cli {

struct PredictArgs {
  std::string checkpoint, image, out, model, box, window;
  std::vector<std::string> points;
  int64_t decoder_heads = 8;
  bool single_mask = false;
  std::string device = "auto";
  // Probabilistic SAM (--samples N > 0).
  int64_t samples = 0;
  uint64_t seed = 0;
  std::string latent_net;  // "" = inferred from the weights
  int64_t latent_input_size = 0;
};

// uint8 [H,W,3]: a PNG/JPEG as RGB, or a DICOM slice mapped through a CT window (--window, else
// the file's own window, else a lung window) to grey. Records the window used in info.
at::Tensor read_input_image(const PredictArgs& a, nlohmann::json& info);
// The --box / --point prompt in image pixels; records it in info.
sam::PointBoxPrompt parse_prompt(const PredictArgs& a, nlohmann::json& info);
// The image with the mask tinted, the box outlined and the points marked.
at::Tensor make_overlay(const at::Tensor& image, const at::Tensor& mask,
                        const sam::PointBoxPrompt& prompt);
c10::Device pick_device(const std::string& name);

// --samples: N masks from a Probabilistic SAM checkpoint, mean probability, entropy and
// variance maps, summary.json.
void run_predict_samples(const PredictArgs& a, Io io);

}  // namespace psam::cli
