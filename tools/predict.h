// psam predict: the arguments and the pieces the SAM and the Probabilistic SAM (--samples)
// paths share.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "psam/data/loader/loader.h"
#include "psam/models/load.h"
#include "psam/sam/predictor.h"

namespace psam::cli {

struct PredictArgs {
  std::string checkpoint, image, out, model, box, window;
  std::string kind;  // a method that learns nothing (--samples path, no checkpoint)
  std::vector<std::string> points;
  std::optional<int64_t> decoder_heads;  // default 8 (official SAM) when inferring
  bool single_mask = false;  // SAM weights: token 0 (the output psam trains) only
  bool multimask = false;    // the three multimask outputs, best by the IoU head
  bool force = false;        // --out may hold files of an earlier prediction
  std::string device = "auto";
  // The method's samples (any psam model): N, or 0 for the default (16 for a model that draws
  // different masks, 1 for a deterministic one).
  int64_t samples = 0;
  uint64_t seed = 0;
  // For files that store no model config; a value contradicting a stored config is an error.
  std::optional<std::string> latent_net;
  std::optional<int64_t> latent_input_size;
};

// The model flags a user gave (--model, --latent-net, --latent-input-size, --decoder-heads).
models::ModelFlags model_flags(const PredictArgs& a);

// uint8 [H,W,3]: a PNG/JPEG as RGB, or a DICOM slice mapped through a CT window (--window, else
// the file's own window, else a lung window) to grey. Records the window used in info.
at::Tensor read_input_image(const PredictArgs& a, nlohmann::json& info);

// The input as a model reads it: the pixels with their declared intensity (a DICOM slice in HU,
// a PNG/JPEG as uint8 RGB) for data::image_batch, and the uint8 RGB rendering for pictures.
// `options` holds the model's intensity mapping (stored with it, else the defaults); a DICOM
// slice's window is --window, else the stored one, else the file's own, else a lung window.
struct InputImage {
  at::Tensor pixels;
  data::Intensity intensity = data::Intensity::kUint8;
  at::Tensor display;
};
InputImage read_model_input(const PredictArgs& a, data::LoaderOptions& options,
                            bool stored_preprocessing, nlohmann::json& info);
// The --box / --point prompt in image pixels; records it in info.
sam::PointBoxPrompt parse_prompt(const PredictArgs& a, nlohmann::json& info);
// psam::Error naming the image size for a box or point outside an image of `height` x `width`;
// a box partly outside is clipped to the image, with a warning, and recorded in info.
void fit_prompt_to_image(sam::PointBoxPrompt& prompt, int64_t height, int64_t width,
                         nlohmann::json& info);
// --out: psam::Error unless it is absent, empty, or --force was given (before any work).
void check_output_dir(const PredictArgs& a);
// Removes the files an earlier psam predict wrote into --out (with --force; nothing else).
void clear_earlier_prediction(const std::string& out);
// The image with the mask tinted, the box outlined and the points marked.
at::Tensor make_overlay(const at::Tensor& image, const at::Tensor& mask,
                        const sam::PointBoxPrompt& prompt);
c10::Device pick_device(const std::string& name);

// The method path (any psam model, or --samples): N masks drawn by the method, its single best
// guess, mean probability, entropy and variance maps, summary.json.
void run_predict_samples(const PredictArgs& a, Io io);

}  // namespace psam::cli
