// psam predict --samples N: any psam model (rebuilt from the config stored with it) on one image
// and box. N masks drawn by the method, the mean probability, per-pixel uncertainty (entropy of
// the mean, variance across samples) as heat-maps over the image, and summary.json (areas,
// pairwise IoU spread).
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "predict.h"
#include "psam/data/loader/loader.h"
#include "psam/io/image.h"
#include "psam/io/npy.h"
#include "psam/models/load.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::cli {
namespace {

// values in [0,1] as a blue-green-red ramp, blended half and half with the image.
at::Tensor heat_map(const at::Tensor& image, const at::Tensor& values) {
  const auto v = values.clamp(0, 1).unsqueeze(-1);
  const auto ramp = [&](double center) { return (1.5 - (4 * v - center).abs()).clamp(0, 1); };
  const auto color = torch::cat({ramp(3), ramp(2), ramp(1)}, -1) * 255;
  return (0.5 * image.to(torch::kFloat) + 0.5 * color).round().clamp(0, 255).to(torch::kUInt8);
}

// IoU of every pair of masks [n,H,W] (two empty masks: IoU 1, as the metrics use).
std::vector<double> pairwise_iou(const at::Tensor& masks) {
  const auto flat = masks.flatten(1).to(torch::kDouble);
  const auto inter = flat.matmul(flat.t());
  const auto area = flat.sum(1);
  const auto uni = area.unsqueeze(0) + area.unsqueeze(1) - inter;
  const auto iou = torch::where(uni > 0, inter / uni.clamp_min(1), torch::ones_like(uni));
  std::vector<double> out;
  for (int64_t i = 0; i < masks.size(0); ++i)
    for (int64_t j = i + 1; j < masks.size(0); ++j) out.push_back(iou[i][j].item<double>());
  return out;
}

nlohmann::json spread(const std::vector<double>& x) {
  if (x.empty()) return nullptr;
  const auto t = torch::tensor(x, torch::kDouble);
  return {{"mean", t.mean().item<double>()},
          {"std", t.std(/*unbiased=*/false).item<double>()},
          {"min", t.min().item<double>()},
          {"max", t.max().item<double>()}};
}

}  // namespace

SamplesModel load_samples_model(const PredictArgs& a,
                                const std::optional<models::ModelFile>& file) {
  SamplesModel m;
  m.info = {{"checkpoint", a.checkpoint}, {"seed", a.seed}};
  if (a.kind.empty()) {
    m.loaded = file ? models::load_model(*file, models::resolve_model_source(a.checkpoint),
                                         model_flags(a), std::nullopt, pick_device(a.device))
                    : models::load_model(a.checkpoint, model_flags(a), std::nullopt,
                                         pick_device(a.device));
  } else {
    m.loaded.model = models::build_unlearned(a.kind, pick_device(a.device));
    m.info["kind"] = a.kind;
  }
  const models::Model& model = *m.loaded.model;
  m.info["model"] = nlohmann::json::parse(models::model_config_json(model.config()));
  m.info["model_config_stored"] = m.loaded.stored_config;
  // Images are prepared as the loader prepares store images, with the intensity mapping the
  // model was trained with.
  if (m.loaded.preprocessing)
    data::read_intensity_json(*m.loaded.preprocessing, m.options, m.loaded.source.checkpoint);
  m.samples = a.samples > 0 ? a.samples : model.deterministic() ? 1 : 16;
  if (m.samples > 1 && model.deterministic())
    log::warn(fmt::format("--samples {}: {} is deterministic; every sample is the same mask",
                          m.samples, model.kind()));
  m.info["samples"] = m.samples;
  m.views = geometry::tta_views(value_of<geometry::TtaMode>(a.tta, "--tta"));
  m.info["tta"] = a.tta;
  m.info["output"] = model.deterministic()
                         ? "the method's output (for SAM: the single-mask output, token 0)"
                         : "masks drawn by the method, and its best guess (prior_mean.png: the "
                           "decoding at the prior mean)";
  return m;
}

nlohmann::json predict_case(const SamplesModel& m, const BatchInView& batch_in_view,
                            const at::Tensor& display, nlohmann::json info,
                            const std::string& out_dir, uint64_t seed) {
  const int64_t n = m.samples;
  torch::NoGradGuard no_grad;
  // Every view draws from the same seed: sample j of each view is decoded from the same noise.
  const data::Batch batch = batch_in_view(m.views.at(0));
  const auto drawn =
      m.loaded.model->sample(batch, n, at::make_generator<at::CPUGeneratorImpl>(seed));
  std::vector<at::Tensor> views_logits = {
      torch::cat({drawn.logits, drawn.mean_logits.unsqueeze(0)}).cpu()};
  for (size_t v = 1; v < m.views.size(); ++v) {
    const auto other = m.loaded.model->sample(batch_in_view(m.views[v]), n,
                                              at::make_generator<at::CPUGeneratorImpl>(seed));
    views_logits.push_back(torch::cat({other.logits, other.mean_logits.unsqueeze(0)}).cpu());
  }
  // Masks are where the probability (averaged over the TTA views) exceeds one half.
  const auto all_probs = m.views.size() == 1
                             ? torch::sigmoid(views_logits[0])
                             : geometry::mean_probability_over_views(m.views, views_logits);
  const auto above = m.views.size() == 1 ? views_logits[0] > 0 : all_probs > 0.5;
  const auto masks = above.slice(0, 0, n);
  const auto probs = all_probs.slice(0, 0, n);
  const auto mean = probs.mean(0);
  const auto p = mean.clamp(1e-12, 1 - 1e-12);
  const auto entropy = torch::where(
      (mean > 0) & (mean < 1), -(p * p.log2() + (1 - p) * (1 - p).log2()), torch::zeros_like(p));
  const auto variance = probs.var(0, /*unbiased=*/false);

  std::vector<std::pair<std::string, at::Tensor>> images;
  std::vector<double> areas;
  for (int64_t i = 0; i < n; ++i) {
    const auto name = fmt::format("sample_{}.png", i);
    images.emplace_back(name, masks[i].to(torch::kUInt8) * 255);
    areas.push_back(masks[i].sum().item<double>());
    info["masks"].push_back({{"file", name}, {"area", masks[i].sum().item<int64_t>()}});
  }
  // The method's single best guess (the decoding at the prior mean for a latent model).
  const auto prior_mean = above[n];
  images.emplace_back("prior_mean.png", prior_mean.to(torch::kUInt8) * 255);
  info["prior_mean"] = {{"file", "prior_mean.png"}, {"area", prior_mean.sum().item<int64_t>()}};
  // The method's own predictions of that mask's quality (USAM's heads, SAM's IoU head).
  for (const auto& [name, value] : drawn.scores) info["prior_mean"]["scores"][name] = value;
  // Entropy of a probability is at most 1 bit and the variance of values in [0,1] at most 1/4.
  const std::vector<std::tuple<std::string, at::Tensor, double>> maps = {
      {"mean_probability", mean, 1.0}, {"entropy", entropy, 1.0}, {"variance", variance, 4.0}};
  for (const auto& [name, values, scale] : maps) {
    images.emplace_back(name + ".png", heat_map(display, values * scale));
    info["maps"][name] = {{"heat_map", name + ".png"},
                          {"values", name + ".npy"},
                          {"max", values.max().item<double>()},
                          {"mean", values.mean().item<double>()}};
  }
  info["area"] = spread(areas);
  info["pairwise_iou"] = spread(pairwise_iou(masks));
  info["original_size"] = {batch.size[0], batch.size[1]};

  // Everything is computed; only now does anything touch the output directory.
  const std::filesystem::path out(out_dir);
  clear_earlier_prediction(out_dir);
  std::filesystem::create_directories(out);
  for (const auto& [name, pixels] : images) io::write_image((out / name).string(), pixels);
  for (const auto& [name, values, scale] : maps)
    io::write_npy((out / (name + ".npy")).string(), values.to(torch::kFloat).contiguous());
  write_file_atomic((out / "summary.json").string(),
                    [&](std::ostream& os) { os << info.dump(2) << "\n"; });
  return info;
}

std::string pairwise_iou_text(const nlohmann::json& summary) {
  const auto& iou = summary["pairwise_iou"];
  return iou.is_null() ? std::string("-")
                       : fmt::format("mean {:.4f} (min {:.4f})", iou["mean"].get<double>(),
                                     iou["min"].get<double>());
}

nlohmann::json predict_image(const PredictArgs& a, const SamplesModel& m,
                             const std::string& out_dir) {
  nlohmann::json info = m.info;
  info["image"] = a.image;
  auto prompt = parse_prompt(a, info["prompt"]);
  data::LoaderOptions options = m.options;
  const InputImage input = read_model_input(a, options, m.loaded.preprocessing.has_value(), info);
  fit_prompt_to_image(prompt, input.display.size(0), input.display.size(1), info["prompt"]);
  m.loaded.model->prepare_loader(options, /*training=*/false);
  const auto b = prompt.box[0];
  const data::Box box{b[0].item<float>(), b[1].item<float>(), b[2].item<float>(),
                      b[3].item<float>()};
  const auto in_view = [&](const geometry::Dihedral& view) {
    data::LoaderOptions o = options;
    o.view = view;
    return data::image_batch(input.pixels, input.intensity, box, o);
  };
  return predict_case(m, in_view, input.display, std::move(info), out_dir, a.seed);
}

void run_predict_samples(const PredictArgs& a, Io io,
                         const std::optional<models::ModelFile>& file) {
  PSAM_CHECK(a.points.empty() && !a.box.empty(),
             "psam predict --samples: the sampling methods take one --box prompt (no --point)");
  nlohmann::json scratch;
  parse_prompt(a, scratch);  // a malformed --box fails before the model loads
  const SamplesModel m = load_samples_model(a, file);
  const nlohmann::json info = predict_image(a, m, a.out);

  std::string scores;
  const nlohmann::json method_scores = info["prior_mean"].value("scores", nlohmann::json::object());
  for (const auto& [name, value] : method_scores.items())
    scores += fmt::format("{}{} {:.4f}", scores.empty() ? "" : ", ", name,
                          value.is_number() ? value.get<double>() : std::nan(""));
  io.out << "output: " << info["output"].get<std::string>() << "\n";
  io.out << fmt::format(
      "{} samples, area mean {:.1f} px, pairwise IoU {}; wrote the masks, "
      "mean_probability, entropy, variance maps and summary.json to {}\n",
      m.samples, info["area"]["mean"].get<double>(), pairwise_iou_text(info), a.out);
  if (!scores.empty()) io.out << "prior_mean.png scores: " << scores << "\n";
}

}  // namespace psam::cli
