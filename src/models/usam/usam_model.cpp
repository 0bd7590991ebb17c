#include "psam/geometry/frame.h"
#include "psam/models/usam/usam_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/io/state_dict.h"
#include "psam/models/usam/larger_sam.h"
#include "psam/models/usam/usam_targets.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/geometry/resize_longest_side.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::models {
namespace {

// The seed of a ground truth's dense-prompt points: splitmix64 of (store index, annotator), so
// a target never depends on the order cases are visited in or on the token cache.
uint64_t dense_points_seed(int64_t index, int64_t annotator) {
  uint64_t z = 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(index) + 2) +
               static_cast<uint64_t>(annotator) * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string record_key(const data::Batch& batch, int64_t b) {
  const at::Tensor box = batch.box[b].to(at::kCPU, at::kFloat);
  const auto v = box.accessor<float, 1>();
  return fmt::format("{}:{},{},{},{}", batch.index[static_cast<size_t>(b)], v[0], v[1], v[2], v[3]);
}

}  // namespace

UsamHeadsImpl::UsamHeadsImpl(int64_t input_dim, int64_t hidden,
                             const std::vector<std::string>& names) {
  for (const auto& name : names) {
    heads_.push_back(
        register_module(name, sam::MLP(input_dim, hidden, 1, 3, /*sigmoid_output=*/true)));
  }
}

torch::Tensor UsamHeadsImpl::forward(const torch::Tensor& features) {
  std::vector<torch::Tensor> out;
  out.reserve(heads_.size());
  for (auto& head : heads_) out.push_back(head->forward(features));
  return torch::cat(out, 1);
}

UsamNetImpl::UsamNetImpl(const sam::SamConfig& sam_config, int64_t hidden,
                         const std::vector<std::string>& head_names) {
  sam = register_module("sam", sam::build_sam(sam_config));
  heads = register_module("heads", UsamHeads(2 * sam_config.prompt_embed_dim, hidden, head_names));
}

UsamModel::UsamModel(const ModelConfig& config)
    : Model(without_latent_nets(config)),
      head_names_(usam_head_names(config.usam.model_gap())),
      net_(config.prob.sam, config.usam.hidden, head_names_) {
  const int64_t tokens = config.prob.sam.num_multimask_outputs + 1;
  PSAM_CHECK(config.usam.token < tokens,
             fmt::format("model.usam.token {} is not a mask token of this SAM (0..{})",
                         config.usam.token, tokens - 1));
  // SAM stays as it is: only the heads learn.
  for (auto& p : net_->sam->parameters()) p.requires_grad_(false);
}

void UsamModel::prepare_loader(data::LoaderOptions& options, bool training) const {
  set_sam_frame(options, config().prob.sam);
  // Targets are IoUs at the image's own size, against every annotator.
  options.resize_masks = false;
  if (training) {
    options.annotators = data::AnnotatorMode::kAll;
    options.box_jitter = 0;  // the same prompt every epoch, so the token cache applies
  }
}

at::Tensor UsamModel::embeddings(const data::Batch& batch) {
  const int64_t size = config().prob.sam.img_size;
  PSAM_CHECK(batch.image.defined() && batch.image.size(-1) == size,
             fmt::format("usam: batches must be at the model's input size {}, got {}", size,
                         batch.image.defined() ? batch.image.size(-1) : 0));
  torch::NoGradGuard no_grad;
  return sam_embeddings(batch, embedding_cache(), device(), [&](const at::Tensor& images) {
    return net_->sam->image_encoder->forward(images);
  });
}

at::Tensor UsamModel::larger_embeddings(const at::Tensor& images) {
  if (!config().usam.model_gap()) return at::Tensor();
  if (!larger_)
    larger_ = load_larger_sam(config().usam.model_gap_from, config().prob.sam, device());
  torch::NoGradGuard no_grad;
  return larger_->image_encoder->forward(images.to(device()));
}

UsamModel::Decoded UsamModel::decode(sam::SamImpl& s, bool multimask, const at::Tensor& embedding,
                                     const at::Tensor& box, const at::Tensor& points,
                                     std::array<int64_t, 2> size) {
  torch::NoGradGuard no_grad;
  sam::PromptInputs prompt;
  prompt.boxes = box;
  if (points.defined() && points.size(0) > 0) {
    prompt.point_coords = points.unsqueeze(0);
    prompt.point_labels = torch::ones({1, points.size(0)}, points.options().dtype(at::kLong));
  }
  const auto [sparse, dense] = s.prompt_encoder->forward(prompt);
  const sam::MaskDecoderOutput out =
      s.mask_decoder->forward(embedding, s.prompt_encoder->get_dense_pe(), sparse, dense, multimask,
                              sam::EmbeddingBatching::kShared);
  Decoded d;
  d.logits = geometry::frame_to_image(out.masks, s.img_size(), size)[0];
  d.iou_pred = out.iou_pred[0];
  d.chosen = to_host(d.iou_pred.argmax()).item<int64_t>();
  d.tokens = out.tokens[0];
  return d;
}

at::Tensor UsamModel::head_input(const Decoded& d) const {
  // Mask token t is hs[:, 1 + t]; the multimask outputs come from tokens 1..M.
  const UsamConfig& u = config().usam;
  const int64_t token = u.token >= 0 ? u.token : (u.multimask ? 1 + d.chosen : 0);
  return torch::cat({d.tokens[0], d.tokens[1 + token]});
}

at::Tensor UsamModel::ground_truths(const at::Tensor& annotators) const {
  const int64_t k = config().usam.annotator;
  if (k < 0) return annotators;
  PSAM_CHECK(k < annotators.size(0),
             fmt::format("model.usam.annotator {} is not an annotator of the store (0..{})", k,
                         annotators.size(0) - 1));
  return annotators.narrow(0, k, 1);
}

UsamModel::Record UsamModel::compute_record(const at::Tensor& embedding,
                                            const at::Tensor& larger_embedding,
                                            const at::Tensor& box, const at::Tensor& annotators,
                                            std::array<int64_t, 2> size, int64_t index) {
  const UsamConfig& u = config().usam;
  const Decoded d = decode(*net_->sam, u.multimask, embedding, box, at::Tensor(), size);
  const at::Tensor masks = d.logits > 0;
  // The larger SAM answers the same prompt on the same frame.
  at::Tensor larger_masks;
  if (larger_embedding.defined()) {
    const Decoded larger =
        decode(*larger_, u.model_gap_multimask, larger_embedding, box, at::Tensor(), size);
    larger_masks = larger.logits > 0;
  }
  const at::Tensor truths = ground_truths(annotators);
  const auto scale = geometry::ResizeLongestSide::coord_scale(size, config().prob.sam.img_size);
  const at::Tensor to_frame =
      torch::tensor({static_cast<float>(scale[0]), static_cast<float>(scale[1])});
  const int64_t first = u.annotator < 0 ? 0 : u.annotator;
  const int64_t heads = static_cast<int64_t>(head_names_.size());
  at::Tensor targets = torch::empty({truths.size(0), heads}, at::kFloat);
  for (int64_t a = 0; a < truths.size(0); ++a) {
    const at::Tensor truth = truths[a];
    const at::Tensor points =
        dense_prompt_points(truth, u.dense_points, dense_points_seed(index, first + a));
    std::vector<double> dense_ious;
    if (points.size(0) > 0) {
      const Decoded dense = decode(*net_->sam, u.multimask, embedding, box,
                                   (points * to_frame).to(box.device()), size);
      dense_ious = mask_ious(dense.logits > 0, truth);
    }
    const auto t = usam_targets(
        mask_ious(masks, truth), d.chosen, dense_ious,
        larger_masks.defined() ? mask_ious(larger_masks, truth) : std::vector<double>{});
    for (int64_t h = 0; h < heads; ++h) targets[a][h] = t[static_cast<size_t>(h)];
  }
  const at::Tensor features = head_input(d).unsqueeze(0);
  return {features, targets.to(features.device()), to_host(d.iou_pred[d.chosen]).item<double>()};
}

train::StepLoss UsamModel::loss(const data::Batch& batch, const train::LossConfig& /*loss*/,
                                int64_t /*step*/, at::Generator /*generator*/) {
  const int64_t batch_size = batch.image.size(0);
  PSAM_CHECK(batch.masks.defined() && batch.masks.dim() == 4 &&
                 batch.masks.size(2) == batch.size[0] && batch.masks.size(3) == batch.size[1],
             "usam: training batches need the annotators' masks at the image size");
  const bool cache = config().usam.cache_tokens;
  std::vector<Record> rows(static_cast<size_t>(batch_size));
  std::vector<int64_t> missing;
  for (int64_t b = 0; b < batch_size; ++b) {
    const auto it = cache && batch.index[static_cast<size_t>(b)] >= 0
                        ? records_.find(record_key(batch, b))
                        : records_.end();
    if (it == records_.end()) {
      missing.push_back(b);
    } else {
      rows[static_cast<size_t>(b)] = it->second;
    }
  }
  if (!missing.empty()) {
    const at::Tensor embedding = embeddings(batch);
    const at::Tensor larger = larger_embeddings(batch.image);
    const c10::Device dev = device();
    for (int64_t b : missing) {
      Record r = compute_record(embedding.narrow(0, b, 1),
                                larger.defined() ? larger.narrow(0, b, 1) : larger,
                                batch.box.narrow(0, b, 1).to(dev), batch.masks[b].to(dev),
                                batch.size, batch.index[static_cast<size_t>(b)]);
      if (cache && batch.index[static_cast<size_t>(b)] >= 0) records_[record_key(batch, b)] = r;
      rows[static_cast<size_t>(b)] = std::move(r);
    }
  }
  std::vector<at::Tensor> features, targets;
  for (const Record& r : rows) {
    features.push_back(r.features.expand({r.targets.size(0), -1}));
    targets.push_back(r.targets);
  }
  const at::Tensor predicted = net_->heads(torch::cat(features));
  // Each head's own MSE; their sum trains every head as if alone.
  const at::Tensor per_head = (predicted - torch::cat(targets)).pow(2).mean(0);
  train::StepLoss result;
  result.total = per_head.sum();
  for (size_t h = 0; h < head_names_.size(); ++h)
    result.terms.emplace_back("mse_" + head_names_[h], per_head[static_cast<int64_t>(h)].detach());
  return result;
}

CaseSamples UsamModel::sample(const data::Batch& batch, int64_t n, at::Generator /*generator*/) {
  check_one_case(batch, kind());
  const at::Tensor embedding = case_embedding([&] { return embeddings(batch); });
  const Decoded d = decode(*net_->sam, config().usam.multimask, embedding,
                           batch.box.to(device()), at::Tensor(), batch.size);
  const at::Tensor heads = to_host(net_->heads(head_input(d).unsqueeze(0))[0]);
  CaseSamples out;
  out.mean_logits = d.logits[d.chosen];
  out.logits = out.mean_logits.unsqueeze(0).expand({n, -1, -1});
  for (size_t h = 0; h < head_names_.size(); ++h) {
    // The gap heads learn gap + 0.5: report the gap itself.
    const auto i = static_cast<int64_t>(h);
    out.scores.emplace_back("usam." + head_names_[h],
                            heads[i].item<double>() - (usam_head_is_gap(i) ? 0.5 : 0.0));
  }
  out.scores.emplace_back("sam.iou_pred", to_host(d.iou_pred[d.chosen]).item<double>());
  return out;
}

std::vector<QualityPrediction> UsamModel::quality(const data::Batch& batch,
                                                  const at::Tensor& annotators) {
  check_one_case(batch, kind());
  const c10::Device dev = device();
  const at::Tensor embedding = case_embedding([&] { return embeddings(batch); });
  const at::Tensor box = batch.box.to(dev);
  const Record r = compute_record(embedding, larger_embeddings(batch.image), box,
                                  annotators.to(dev), batch.size, batch.index[0]);
  const at::Tensor heads = to_host(net_->heads(r.features)[0]).to(at::kDouble);
  const at::Tensor actual = to_host(r.targets).to(at::kDouble);
  const int64_t count = actual.size(0);
  std::vector<QualityPrediction> out;
  const auto column = [&](int64_t h) {
    std::vector<double> v(static_cast<size_t>(count));
    for (int64_t a = 0; a < count; ++a) v[static_cast<size_t>(a)] = actual[a][h].item<double>();
    return v;
  };
  for (size_t i = 0; i < head_names_.size(); ++i) {
    const auto h = static_cast<int64_t>(i);
    QualityPrediction q;
    q.name = "usam." + head_names_[i];
    q.is_iou = !usam_head_is_gap(h);
    q.predicted.assign(static_cast<size_t>(count), heads[h].item<double>());
    q.actual = column(h);
    out.push_back(std::move(q));
  }
  // SAM's own IoU head scores the mask it chose: the unsupervised IoU is its real value.
  QualityPrediction q;
  q.name = "sam.iou_pred";
  q.is_iou = true;
  q.predicted.assign(static_cast<size_t>(count), r.iou_pred);
  q.actual = column(1);
  out.push_back(std::move(q));
  return out;
}

std::optional<CacheableEncoder> UsamModel::cacheable_encoder() {
  return sam_cacheable_encoder(*net_->sam);
}

std::vector<ExportPart> UsamModel::export_parts() const {
  return {{"sam", "the frozen SAM's weights in the official segment_anything layout"}};
}

io::TensorDict UsamModel::export_state(const std::string& part) {
  PSAM_CHECK(part == "sam", fmt::format("{}: no export part '{}'", kind(), part));
  return sam::official_sam_state_dict(io::state_dict(*net_).with_prefix_removed("sam."),
                                      config().prob.sam, "the model");
}

void UsamModel::init_from_foreign(const io::TensorDict& state, const std::string& source) {
  // Official SAM / MedSAM, or the SAM part of any psam file; the heads start fresh.
  const auto prefix = sam::find_sam_prefix(state, source);
  io::load_state_dict(*net_->sam, state, prefix, source);
  log::info(fmt::format("model: SAM weights from {}{}; USAM heads fresh", source,
                        prefix.empty() ? "" : " (under '" + prefix + "')"));
}

}  // namespace psam::models
