// psam predict: the arguments and the pieces the SAM and the Probabilistic SAM (--samples)
// paths share.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
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
  // Batch predict: a folder of images with a CSV of boxes, or a store's split.
  std::string images, boxes, store, split;
  std::string kind;  // a method that learns nothing (--samples path, no checkpoint)
  std::vector<std::string> points;
  std::optional<int64_t> decoder_heads;  // default 8 (official SAM) when inferring
  bool single_mask = false;              // SAM weights: token 0 (the output psam trains) only
  bool multimask = false;                // the three multimask outputs, best by the IoU head
  bool force = false;                    // --out may hold files of an earlier prediction
  std::string device = "auto";
  std::string tta = "none";  // test-time augmentation of the samples path: none | flips
  // The method's samples (any psam model): N, or 0 for the default (16 for a model that draws
  // different masks, 1 for a deterministic one).
  int64_t samples = 0;
  uint64_t seed = 0;
  // For files that store no model config; a value contradicting a stored config is an error.
  std::optional<std::string> latent_net;
  std::optional<int64_t> latent_input_size;
  bool ema = false;  // --weights ema
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
// psam::Error naming the image size for a box or point outside an image of `height` x `width`.
void check_prompt_inside(const sam::PointBoxPrompt& prompt, int64_t height, int64_t width);
// check_prompt_inside; a box partly outside is clipped to the image, with a warning, and
// recorded in info.
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

// The method path's model, loaded once for one image or a batch: the model, the intensity
// mapping it was trained with (before a file's own settings and prepare_loader), the number of
// samples, and the summary fields every prediction shares.
struct SamplesModel {
  models::LoadedModel loaded;
  data::LoaderOptions options;
  int64_t samples = 1;
  // Test-time augmentation views (--tta), the identity first.
  std::vector<geometry::Dihedral> views = {geometry::Dihedral{}};
  nlohmann::json info;
};
// `file`: the checkpoint as run_predict already read it (else it is read here).
SamplesModel load_samples_model(const PredictArgs& a, const std::optional<models::ModelFile>& file);
// A prepared case (a batch of one) seen in a view: the image, prompt and masks moved by it.
using BatchInView = std::function<data::Batch(const geometry::Dihedral&)>;
// Draws the method's samples for one prepared case (in each TTA view, mapped back) and writes the
// masks, the best guess, the maps over `display` (uint8 [H,W,3]) and summary.json (`info`
// completed) to `out_dir`, replacing an earlier prediction's files there. Returns the summary.
nlohmann::json predict_case(const SamplesModel& m, const BatchInView& batch_in_view,
                            const at::Tensor& display, nlohmann::json info,
                            const std::string& out_dir, uint64_t seed);
// predict_case on --image with --box (a.image, a.box), read with the model's intensity mapping;
// the prompt is clipped to the image or refused (fit_prompt_to_image).
nlohmann::json predict_image(const PredictArgs& a, const SamplesModel& m,
                             const std::string& out_dir);
// "mean M (min m)" of a summary's pairwise IoU, or "-" for one sample.
std::string pairwise_iou_text(const nlohmann::json& summary);

// The method path (any psam model, or --samples): N masks drawn by the method, its single best
// guess, mean probability, entropy and variance maps, summary.json.
void run_predict_samples(const PredictArgs& a, Io io,
                         const std::optional<models::ModelFile>& file = std::nullopt);

// Folder and store predict (--images DIR --boxes CSV, or --store DIR [--split S]): the method
// path on every image or case, one subfolder each, and batch.json listing them.
void run_predict_batch(const PredictArgs& a, Io io, const std::optional<models::ModelFile>& file);

}  // namespace psam::cli
