// psam predict --samples N: Probabilistic SAM on one image and box. N masks drawn from the prior,
// the mean probability, per-pixel uncertainty (entropy of the mean, variance across samples) as
// heat-maps over the image, and summary.json (areas, pairwise IoU spread).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "predict.h"
#include "psam/io/image.h"
#include "psam/io/npy.h"
#include "psam/io/state_dict.h"
#include "psam/prob/prob_sam.h"
#include "psam/sam/export.h"
#include "psam/sam/transforms.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "sam_json.h"

namespace psam::cli {
namespace {

// The model shape read off its weights (names relative to the model root): the SAM part as plain
// predict infers it, L and the projector width from fcomb.z_projector.0 [H,L], the latent-net
// kind from the prior's first convolution (3x3 on pixels: reference; 1x1 on the embedding).
prob::ProbSamConfig infer_config(const io::TensorDict& state, const PredictArgs& a) {
  PSAM_CHECK(state.contains("fcomb.z_projector.0.weight"),
             fmt::format("{}: not a Probabilistic SAM checkpoint (no fcomb.z_projector weights); "
                         "--samples needs one",
                         a.checkpoint));
  prob::ProbSamConfig c;
  const auto shape = model_option(a.model);
  c.sam =
      shape ? *shape : sam::infer_sam_config(state.with_prefix_removed("sam."), a.decoder_heads);
  const auto& projector = state.at("fcomb.z_projector.0.weight");
  c.latent_dim = projector.size(1);
  c.projector_hidden = projector.size(0);
  c.latent_net = a.latent_net;
  c.latent_input_size = a.latent_input_size;
  if (c.latent_net.empty()) {
    PSAM_CHECK(state.contains("prior_net.encoder.0.weight"),
               fmt::format("{}: the latent nets are of a kind predict cannot read off the weights "
                           "(reference and embedding are supported)",
                           a.checkpoint));
    const auto& first = state.at("prior_net.encoder.0.weight");
    c.latent_net = first.size(-1) == 1 ? "embedding" : "reference";
  }
  if (c.latent_net == "embedding" && state.contains("prior_net.encoder.0.weight"))
    c.embedding_hidden_channels = state.at("prior_net.encoder.0.weight").size(0);
  c.validate();
  return c;
}

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

void run_predict_samples(const PredictArgs& a, Io io) {
  PSAM_CHECK(a.points.empty() && !a.box.empty(),
             "psam predict --samples: Probabilistic SAM takes one --box prompt (no --point)");
  nlohmann::json info = {
      {"image", a.image}, {"checkpoint", a.checkpoint}, {"samples", a.samples}, {"seed", a.seed}};
  const auto prompt = parse_prompt(a, info["prompt"]);

  // The model state without the exported duplicate of the mask decoder (psam export --part full).
  const auto found = sam::prob_sam_state(sam::read_model_state_dict(a.checkpoint), a.checkpoint);
  PSAM_CHECK(found.has_value(),
             fmt::format("{}: not a Probabilistic SAM checkpoint (its SAM weights are not under "
                         "'sam.' beside the latent nets); --samples needs one",
                         a.checkpoint));
  const auto& state = *found;
  const auto config = infer_config(state, a);
  prob::ProbSam model(config);
  io::load_state_dict(*model, state, "", a.checkpoint);
  model->eval();
  model->to(pick_device(a.device));
  info["model"] = {{"latent_net", config.latent_net},
                   {"latent_dim", config.latent_dim},
                   {"latent_input_size", config.latent_input_size},
                   {"sam", sam_config_to_json(config.sam)}};

  const auto image = read_input_image(a, info);
  const std::array<int64_t, 2> original = {image.size(0), image.size(1)};
  const sam::ResizeLongestSide transform(config.sam.img_size);
  const auto resized = transform.apply_image(image.permute({2, 0, 1}).unsqueeze(0));
  const std::array<int64_t, 2> input_size = {resized.size(2), resized.size(3)};
  const auto device = model->sam->parameters().front().device();
  torch::NoGradGuard no_grad;
  const auto input = model->sam->preprocess(resized.to(device));
  const auto box = transform.apply_boxes(prompt.box, original).to(device);
  const int64_t low = 4 * config.sam.image_embedding_size();
  torch::manual_seed(a.seed);
  const auto drawn = model->sample(model->embed(input), input, box, a.samples, {low, low});
  const auto logits =
      model->sam
          ->postprocess_masks(torch::cat({drawn.samples, drawn.prior_mean}), input_size, original)
          .squeeze(1)
          .cpu();
  const int64_t n = a.samples;
  const auto masks = logits.slice(0, 0, n) > 0;
  const auto probs = torch::sigmoid(logits.slice(0, 0, n));
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
  const auto prior_mean = logits[n] > 0;
  images.emplace_back("prior_mean.png", prior_mean.to(torch::kUInt8) * 255);
  info["prior_mean"] = {{"file", "prior_mean.png"}, {"area", prior_mean.sum().item<int64_t>()}};
  // Entropy of a probability is at most 1 bit and the variance of values in [0,1] at most 1/4.
  const std::vector<std::tuple<std::string, at::Tensor, double>> maps = {
      {"mean_probability", mean, 1.0}, {"entropy", entropy, 1.0}, {"variance", variance, 4.0}};
  for (const auto& [name, values, scale] : maps) {
    images.emplace_back(name + ".png", heat_map(image, values * scale));
    info["maps"][name] = {{"heat_map", name + ".png"},
                          {"values", name + ".npy"},
                          {"max", values.max().item<double>()},
                          {"mean", values.mean().item<double>()}};
  }
  info["area"] = spread(areas);
  info["pairwise_iou"] = spread(pairwise_iou(masks));
  info["original_size"] = {original[0], original[1]};

  // Everything is computed; only now does anything touch the output directory.
  const std::filesystem::path out(a.out);
  std::filesystem::create_directories(out);
  for (const auto& [name, pixels] : images) io::write_image((out / name).string(), pixels);
  for (const auto& [name, values, scale] : maps)
    io::write_npy((out / (name + ".npy")).string(), values.to(torch::kFloat).contiguous());
  write_file_atomic((out / "summary.json").string(),
                    [&](std::ostream& os) { os << info.dump(2) << "\n"; });
  const auto& iou = info["pairwise_iou"];
  io.out << fmt::format(
      "{} samples, area mean {:.1f} px, pairwise IoU {}; wrote the masks, "
      "mean_probability, entropy, variance maps and summary.json to {}\n",
      n, info["area"]["mean"].get<double>(),
      iou.is_null() ? std::string("-")
                    : fmt::format("mean {:.4f} (min {:.4f})", iou["mean"].get<double>(),
                                  iou["min"].get<double>()),
      a.out);
}

}  // namespace psam::cli
