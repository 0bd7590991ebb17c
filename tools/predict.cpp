// psam predict: one image (PNG/JPEG, or a DICOM slice through a CT window) and a box and/or
// points -> mask PNGs, an overlay PNG and a JSON of predicted IoUs.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <regex>

#include "cli.h"
#include "cli_checks.h"
#include "predict.h"
#include "psam/io/dicom.h"
#include "psam/io/image.h"
#include "psam/io/pth.h"
#include "psam/models/load.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/config_json.h"
#include "psam/sam/export.h"
#include "psam/sam/predictor.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::cli {
namespace {

std::vector<double> parse_numbers(const std::string& text, size_t n, const std::string& what) {
  std::vector<double> values;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      size_t used = 0;
      values.push_back(std::stod(item, &used));
      PSAM_CHECK(used == item.size(), "");
    } catch (const std::exception&) {
      values.clear();
      break;
    }
  }
  PSAM_CHECK(values.size() == n,
             fmt::format("{} '{}': expected {} comma-separated numbers", what, text, n));
  return values;
}

bool is_dicom(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  in.read(head, sizeof head);
  return in.gcount() == sizeof head && std::string(head + 128, 4) == "DICM";
}

}  // namespace

namespace {

// --window, else `stored`, else the file's own window, else the lung window.
std::pair<double, double> ct_window(const PredictArgs& a, const io::DicomSlice& slice,
                                    std::optional<std::pair<double, double>> stored) {
  if (!a.window.empty()) {
    const auto cw = parse_numbers(a.window, 2, "--window");
    PSAM_CHECK(cw[1] > 0, fmt::format("--window '{}': the width must be positive", a.window));
    return {cw[0], cw[1]};
  }
  if (stored) return *stored;
  if (slice.window_width > 0) return {slice.window_center, slice.window_width};
  return {-600, 1500};  // lung window
}

at::Tensor window_to_grey(const at::Tensor& hu, double center, double width) {
  const auto grey =
      ((hu - (center - width / 2)) / width).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  return grey.unsqueeze(-1).expand({-1, -1, 3}).contiguous();
}

}  // namespace

models::ModelFlags model_flags(const PredictArgs& a) {
  models::ModelFlags f;
  f.sam = sam::config_by_name_or_file(a.model);
  if (a.latent_net) f.latent_net = value_of<prob::LatentNetKind>(*a.latent_net, "--latent-net");
  f.latent_input_size = a.latent_input_size;
  f.decoder_num_heads = a.decoder_heads;
  f.ema = a.ema;
  return f;
}

namespace {

at::Tensor grey_to_rgb(const at::Tensor& hwc) {
  return (hwc.size(2) == 1 ? hwc.expand({-1, -1, 3}) : hwc).contiguous();
}

// A PNG/JPEG/TIFF read once: an 8-bit file as uint8 RGB; a 16-bit one as import-folder stores it
// (float value / 65535 in [0, 1], intensity "unit") with its 0..255 rendering for pictures and
// SAM's predictor.
InputImage read_picture(const PredictArgs& a) {
  PSAM_CHECK(a.window.empty(),  // --window maps Hounsfield units; a picture holds none
             fmt::format("--window {}: {} is not a DICOM slice; the CT window applies to DICOM "
                         "input only",
                         a.window, a.image));
  const at::Tensor file = io::read_image(a.image);
  InputImage in;
  if (file.scalar_type() == torch::kUInt8) {
    in.pixels = in.display = grey_to_rgb(file);
    in.intensity = data::Intensity::kUint8;
    return in;
  }
  in.pixels = (file.to(torch::kFloat) / 65535.0).contiguous();
  in.display = grey_to_rgb((in.pixels * 255).round().clamp(0, 255).to(torch::kUInt8));
  in.intensity = data::Intensity::kUnit;
  return in;
}

}  // namespace

at::Tensor read_input_image(const PredictArgs& a, nlohmann::json& info) {
  if (!is_dicom(a.image)) {
    const InputImage in = read_picture(a);
    if (in.intensity == data::Intensity::kUnit)
      info["intensity"] = "16-bit file, values / 65535 rendered to 0..255 for SAM's predictor";
    return in.display;
  }
  const auto slice = io::read_dicom(a.image);
  const auto [center, width] = ct_window(a, slice, std::nullopt);
  info["ct_window"] = {center, width};
  return window_to_grey(slice.hu, center, width);
}

InputImage read_model_input(const PredictArgs& a, data::LoaderOptions& options,
                            bool stored_preprocessing, nlohmann::json& info) {
  InputImage in;
  if (!is_dicom(a.image)) {
    in = read_picture(a);
    info["file_values"] =
        in.intensity == data::Intensity::kUnit ? "16-bit, value / 65535" : "8-bit";
    if (options.intensity == data::IntensityMapping::kWindow) {
      log::info(
          "predict: the model was trained with an HU window; a PNG/JPEG input is read as "
          "0..255 values instead");
      options.intensity = data::IntensityMapping::kAuto;
    }
    info["intensity"] = name_of(options.intensity);
    return in;
  }
  const auto slice = io::read_dicom(a.image);
  const auto stored =
      stored_preprocessing
          ? std::optional<std::pair<double, double>>({options.window_center, options.window_width})
          : std::nullopt;
  const auto [center, width] = ct_window(a, slice, stored);
  options.window_center = center;
  options.window_width = width;
  info["ct_window"] = {center, width};
  info["intensity"] = name_of(options.intensity);
  in.pixels = slice.hu.to(torch::kFloat).contiguous();
  in.intensity = data::Intensity::kHu;
  in.display = window_to_grey(slice.hu, center, width);
  return in;
}

sam::PointBoxPrompt parse_prompt(const PredictArgs& a, nlohmann::json& info) {
  sam::PointBoxPrompt p;
  PSAM_CHECK(!a.box.empty() || !a.points.empty(), "psam predict: give --box and/or --point");
  if (!a.box.empty()) {
    const auto b = parse_numbers(a.box, 4, "--box");
    PSAM_CHECK(b[0] <= b[2] && b[1] <= b[3],
               fmt::format("--box '{}': expected x0,y0,x1,y1 with x0 <= x1 and y0 <= y1", a.box));
    p.box = torch::tensor({b[0], b[1], b[2], b[3]}, torch::kFloat).unsqueeze(0);
    info["box"] = b;
  }
  if (!a.points.empty()) {
    std::vector<float> coords;
    std::vector<int64_t> labels;
    for (const auto& text : a.points) {
      const auto v = parse_numbers(text, 3, "--point");
      PSAM_CHECK(v[2] == 0 || v[2] == 1,
                 fmt::format("--point '{}': label must be 1 (foreground) or 0 (background)", text));
      coords.insert(coords.end(), {static_cast<float>(v[0]), static_cast<float>(v[1])});
      labels.push_back(static_cast<int64_t>(v[2]));
      info["points"].push_back(v);
    }
    const auto n = static_cast<int64_t>(labels.size());
    p.point_coords = torch::tensor(coords).view({1, n, 2});
    p.point_labels = torch::tensor(labels).view({1, n});
  }
  return p;
}

namespace {

// x0, y0, x1, y1 of the prompt's box.
std::array<double, 4> box_corners(const sam::PointBoxPrompt& prompt) {
  const auto b = prompt.box[0];
  return {b[0].item<double>(), b[1].item<double>(), b[2].item<double>(), b[3].item<double>()};
}

std::string size_text(int64_t height, int64_t width) {
  return fmt::format("{} x {} (width x height)", width, height);
}

}  // namespace

void check_prompt_inside(const sam::PointBoxPrompt& prompt, int64_t height, int64_t width) {
  const double W = static_cast<double>(width), H = static_cast<double>(height);
  const auto size = size_text(height, width);
  if (prompt.box.defined()) {
    const auto [x0, y0, x1, y1] = box_corners(prompt);
    PSAM_CHECK(
        x1 >= 0 && y1 >= 0 && x0 <= W && y0 <= H,
        fmt::format("--box {:g},{:g},{:g},{:g}: lies outside the {} image", x0, y0, x1, y1, size));
  }
  if (prompt.point_coords.defined()) {
    for (int64_t i = 0; i < prompt.point_coords.size(1); ++i) {
      const double x = prompt.point_coords[0][i][0].item<double>();
      const double y = prompt.point_coords[0][i][1].item<double>();
      PSAM_CHECK(x >= 0 && y >= 0 && x <= W && y <= H,
                 fmt::format("--point {:g},{:g}: lies outside the {} image", x, y, size));
    }
  }
}

void fit_prompt_to_image(sam::PointBoxPrompt& prompt, int64_t height, int64_t width,
                         nlohmann::json& info) {
  check_prompt_inside(prompt, height, width);
  if (prompt.box.defined()) {
    const double W = static_cast<double>(width), H = static_cast<double>(height);
    const auto [x0, y0, x1, y1] = box_corners(prompt);
    const auto text = fmt::format("{:g},{:g},{:g},{:g}", x0, y0, x1, y1);
    const double cx0 = std::clamp(x0, 0.0, W), cy0 = std::clamp(y0, 0.0, H);
    const double cx1 = std::clamp(x1, 0.0, W), cy1 = std::clamp(y1, 0.0, H);
    if (cx0 != x0 || cy0 != y0 || cx1 != x1 || cy1 != y1) {
      log::warn(
          fmt::format("--box {}: reaches outside the {} image; clipped to {:g},{:g},{:g},{:g}",
                      text, size_text(height, width), cx0, cy0, cx1, cy1));
      prompt.box = torch::tensor({cx0, cy0, cx1, cy1}, torch::kFloat).unsqueeze(0);
      info["box_clipped"] = {cx0, cy0, cx1, cy1};
    }
  }
}

namespace {

// The files psam predict writes (either path), so that --force clears those and nothing else.
bool is_prediction_file(const std::string& name) {
  static const std::regex pattern(
      R"((mask|sample)_[0-9]+\.png|overlay\.png|prior_mean\.png|prediction\.json|summary\.json|)"
      R"((mean_probability|entropy|variance)\.(png|npy))");
  return std::regex_match(name, pattern);
}

}  // namespace

void check_output_dir(const PredictArgs& a) {
  const std::filesystem::path out(a.out);
  if (!std::filesystem::exists(out)) return;
  PSAM_CHECK(std::filesystem::is_directory(out),
             fmt::format("--out {}: exists and is not a directory", a.out));
  if (std::filesystem::is_empty(out) || a.force) return;
  fail(
      fmt::format("--out {}: the directory is not empty (an earlier prediction?); give --force "
                  "to replace psam's files there, or another --out",
                  a.out));
}

void clear_earlier_prediction(const std::string& out) {
  if (!std::filesystem::is_directory(out)) return;
  for (const auto& entry : std::filesystem::directory_iterator(out))
    if (entry.is_regular_file() && is_prediction_file(entry.path().filename().string()))
      std::filesystem::remove(entry.path());
}

at::Tensor make_overlay(const at::Tensor& image, const at::Tensor& mask,
                        const sam::PointBoxPrompt& prompt) {
  auto out = image.to(torch::kFloat).clone();
  const auto tint = torch::tensor({255.f, 40.f, 40.f});
  out = torch::where(mask.unsqueeze(-1), 0.5 * out + 0.5 * tint, out);
  const int64_t H = out.size(0), W = out.size(1);
  const auto fill = [&](double x0, double y0, double x1, double y1, const at::Tensor& color) {
    const auto cx = [&](double v) { return std::clamp<int64_t>(std::llround(v), 0, W); };
    const auto cy = [&](double v) { return std::clamp<int64_t>(std::llround(v), 0, H); };
    out.slice(0, cy(y0), cy(y1)).slice(1, cx(x0), cx(x1)) = color;
  };
  const auto green = torch::tensor({40.f, 220.f, 40.f}), red = torch::tensor({230.f, 30.f, 30.f});
  if (prompt.box.defined()) {
    const auto b = prompt.box[0];
    const double x0 = b[0].item<double>(), y0 = b[1].item<double>();
    const double x1 = b[2].item<double>(), y1 = b[3].item<double>();
    fill(x0, y0, x1 + 1, y0 + 1, green);
    fill(x0, y1, x1 + 1, y1 + 1, green);
    fill(x0, y0, x0 + 1, y1 + 1, green);
    fill(x1, y0, x1 + 1, y1 + 1, green);
  }
  if (prompt.point_coords.defined()) {
    for (int64_t i = 0; i < prompt.point_coords.size(1); ++i) {
      const double x = prompt.point_coords[0][i][0].item<double>();
      const double y = prompt.point_coords[0][i][1].item<double>();
      fill(x - 2, y - 2, x + 3, y + 3, prompt.point_labels[0][i].item<int64_t>() ? green : red);
    }
  }
  return out.round().clamp(0, 255).to(torch::kUInt8);
}

torch::Device pick_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    PSAM_CHECK(torch::cuda::is_available(), "--device cuda: no CUDA device available");
    return torch::kCUDA;
  }
  return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
}

namespace {

void run_predict(const PredictArgs& a, Io io) {
  PSAM_CHECK(a.checkpoint.empty() != a.kind.empty(),
             "psam predict: give either --checkpoint FILE or --kind KIND");
  PSAM_CHECK(!(a.single_mask && a.multimask),
             "psam predict: --single-mask and --multimask exclude each other");
  PSAM_CHECK(a.samples == 0 || !a.multimask,
             "psam predict: --multimask shows SAM's three outputs; --samples draws from the "
             "method: give one of them");
  const int sources = !a.image.empty() + !a.images.empty() + !a.store.empty();
  PSAM_CHECK(sources == 1,
             "psam predict: give one of --image FILE, --images DIR --boxes CSV, or "
             "--store DIR [--split S]");
  check_output_dir(a);
  const bool batch = a.image.empty();
  if (!a.kind.empty())
    return batch ? run_predict_batch(a, io, std::nullopt) : run_predict_samples(a, io);

  // A psam model shows what it was trained and evaluated with: the method's own output (SAM's
  // single mask, token 0; a latent model's prior mean and samples). Official SAM weights show
  // SAM's three multimask outputs, as segment_anything's predictor does.
  const models::ModelFile file = models::read_model_file(a.checkpoint);
  const bool psam_model =
      file.config.has_value() || sam::prob_sam_state(file.state, file.path).has_value();
  if (batch) return run_predict_batch(a, io, file);
  if (a.samples > 0 || (psam_model && !a.multimask)) return run_predict_samples(a, io, file);
  PSAM_CHECK(a.tta == "none",
             "psam predict: --tta averages a method's samples over views; SAM's multimask "
             "outputs take none (drop --multimask, or give --samples N)");
  if (psam_model) {
    log::warn(fmt::format(
        "--multimask: {} is a psam {} model; its SAM's multimask outputs (tokens 1-3) and IoU "
        "head were not trained by psam{}",
        a.checkpoint, file.config ? file.config->kind : "prob_sam",
        file.config && file.config->prob.latent_net == prob::LatentNetKind::kNone
            ? ""
            : ", and the latent z is not used"));
  }
  const bool multimask = a.multimask || (!psam_model && !a.single_mask);
  nlohmann::json info = {{"image", a.image}, {"checkpoint", a.checkpoint}};
  auto prompt = parse_prompt(a, info["prompt"]);

  // A psam file says its SAM shape; official weights take --model or their tensor shapes.
  const models::ModelFlags flags = model_flags(a);
  std::optional<sam::SamConfig> shape = flags.sam;
  if (file.config) {
    models::check_model_flags(flags, *file.config, a.checkpoint);
    shape = file.config->prob.sam;
  }
  if (shape && a.decoder_heads) shape->decoder_num_heads = *a.decoder_heads;
  sam::LoadedSam loaded;
  try {
    loaded = sam::load_sam(file.state, shape, a.decoder_heads.value_or(8), a.checkpoint);
  } catch (const Error& e) {
    if (!file.config) throw;
    fail(
        fmt::format("--multimask: {} holds a psam {} model, which has no SAM mask decoder to "
                    "show multimask outputs of (plain predict shows the method's own output)",
                    a.checkpoint, file.config->kind));
  }
  info["model"] = file.config       ? "stored with the checkpoint"
                  : a.model.empty() ? "inferred from the checkpoint"
                                    : a.model;
  const auto device = pick_device(a.device);
  loaded.model->to(device);

  const auto image = read_input_image(a, info);
  fit_prompt_to_image(prompt, image.size(0), image.size(1), info["prompt"]);
  sam::SamPredictor predictor(loaded.model);
  predictor.set_image(image);
  const auto pred = predictor.predict(prompt, multimask);
  const auto masks = pred.masks[0].cpu(), iou = pred.iou_predictions[0].cpu();
  const int64_t best = iou.argmax().item<int64_t>();
  info["original_size"] = {image.size(0), image.size(1)};
  info["multimask_output"] = multimask;
  info["output"] = multimask ? "SAM's three multimask outputs (tokens 1-3); best: the highest "
                               "predicted IoU"
                             : "SAM's single-mask output (token 0)";
  info["best"] = best;
  info["overlay"] = "overlay.png";
  std::vector<std::pair<std::string, at::Tensor>> files;
  for (int64_t i = 0; i < masks.size(0); ++i) {
    const auto name = fmt::format("mask_{}.png", i);
    files.emplace_back(name, masks[i].to(torch::kUInt8) * 255);
    info["masks"].push_back({{"file", name},
                             {"predicted_iou", iou[i].item<double>()},
                             {"area", masks[i].sum().item<int64_t>()}});
  }
  files.emplace_back("overlay.png", make_overlay(image, masks[best], prompt));

  // Everything is computed; only now does anything touch the output directory.
  clear_earlier_prediction(a.out);
  std::filesystem::create_directories(a.out);
  for (const auto& [name, pixels] : files)
    io::write_image((std::filesystem::path(a.out) / name).string(), pixels);
  write_file_atomic((std::filesystem::path(a.out) / "prediction.json").string(),
                    [&](std::ostream& os) { os << info.dump(2) << "\n"; });
  for (const auto& m : info["masks"])
    io.out << fmt::format("{}  predicted IoU {:.4f}  area {} px\n", m["file"].get<std::string>(),
                          m["predicted_iou"].get<double>(), m["area"].get<int64_t>());
  io.out << fmt::format("output: {}\nwrote {} masks, overlay.png and prediction.json to {}\n",
                        info["output"].get<std::string>(), masks.size(0), a.out);
}

}  // namespace

void add_predict_command(CLI::App& app, Io io, int& rc) {
  auto a = std::make_shared<PredictArgs>();
  auto* sub =
      app.add_subcommand("predict",
                         "Segment one image with SAM from a box and/or points; writes mask PNGs, "
                         "overlay.png and prediction.json (predicted IoUs); with --samples, N "
                         "Probabilistic SAM samples and uncertainty maps; --images or --store: "
                         "many images, one subfolder each");
  sub->add_option("--checkpoint", a->checkpoint, "SAM weights (.pth or .safetensors)")
      ->check(CLI::ExistingFile);
  sub->add_option("--kind", a->kind,
                  "instead of --checkpoint: a method that learns nothing (e.g. "
                  "box_ellipse)");
  sub->add_option("--image", a->image, "PNG/JPEG image or DICOM slice")->check(CLI::ExistingFile);
  sub->add_option("--images", a->images,
                  "instead of --image: a folder of images, with --boxes; one subfolder of --out "
                  "per CSV row");
  sub->add_option("--boxes", a->boxes,
                  "with --images: CSV with a header image,x0,y0,x1,y1[,name] (image paths "
                  "relative to --images; name: the subfolder, default the file stem)")
      ->check(CLI::ExistingFile);
  sub->add_option("--store", a->store,
                  "instead of --image: every case of a store split with the store's box prompt; "
                  "one subfolder of --out per case");
  sub->add_option("--split", a->split, "with --store: the split (default test)");
  sub->add_option("--out", a->out, "output directory")->required();
  sub->add_option("--box", a->box, "box prompt x0,y0,x1,y1 in image pixels");
  sub->add_option("--point", a->points,
                  "point prompt x,y,label (1 foreground, 0 background); "
                  "repeatable")
      ->take_all();
  sub->add_option("--model", a->model,
                  "vit_b | vit_l | vit_h | a model-shape JSON; default: inferred from the "
                  "checkpoint's tensor shapes");
  sub->add_option("--decoder-heads", a->decoder_heads,
                  "mask-decoder attention heads when the shape is inferred (official: 8)")
      ->check(positive());
  sub->add_flag("--single-mask", a->single_mask,
                "official SAM weights: SAM's single-mask output (token 0, the one psam trains) "
                "instead of its three multimask outputs");
  sub->add_flag("--multimask", a->multimask,
                "a psam model: SAM's three multimask outputs and IoU head instead of the method's "
                "own output (psam trains neither; a latent z is not used)");
  sub->add_flag("--force", a->force, "--out may hold an earlier prediction: replace its files");
  sub->add_option("--window", a->window, "CT window center,width for DICOM input (HU)");
  sub->add_option("--device", a->device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  sub->add_option("--samples", a->samples,
                  "N masks drawn by the method (default for a psam model: 16, or 1 for a "
                  "deterministic one), its best guess, the mean probability and uncertainty "
                  "heat-maps, summary.json; official SAM weights: the single-mask SAM")
      ->check(positive());
  sub->add_option("--seed", a->seed, "seed of the samples (with --samples)");
  sub->add_option("--tta", a->tta,
                  "test-time augmentation of the samples: none, or flips (the image and its three "
                  "mirrors, each sample and map mapped back and averaged)")
      ->check(CLI::IsMember({"none", "flips"}));
  add_latent_shape_options(sub, a->latent_net, a->latent_input_size);
  add_weights_option(sub, a->ema);
  sub->callback([a, io, &rc] {
    run_predict(*a, io);
    rc = 0;
  });
}

}  // namespace psam::cli
