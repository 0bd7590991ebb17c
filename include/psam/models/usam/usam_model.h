// model.kind usam: UncertainSAM's uncertainty heads (Kaiser et al. 2025, there on SAM2) on a
// frozen SAM1. docs/usam.md.
//   module    sam.* (any psam SAM: official weights or a trained psam model's SAM part through
//             model.init_from; frozen) and heads.<name>.layers.{0,1,2}: one MLP per target
//             (usam_head_names: model_gap only with model.usam.model_gap_from),
//             2C -> hidden -> hidden -> 1, ReLU between, sigmoid, on the concatenation of the
//             decoder's IoU-token output (hs[:,0]) and one mask-token output (hs[:,1+t])
//   mask      SAM's box-prompted mask: of its multimask outputs the one its IoU head ranks
//             first (or its single output); deterministic
//   targets   usam_targets.h, against each annotator in turn (or model.usam.annotator), at the
//             image's own size; the dense prompt's points drawn from (store index, annotator);
//             the model gap's larger SAM (larger_sam.h) read when targets are first needed
//   loss      MSE of the heads against the targets, every (case, ground truth) a row
//   cache     the encoder's embeddings (the embedding cache) and, in memory, each image+prompt's
//             head inputs and targets: after the first epoch a step runs only the heads. The
//             loader's box jitter is turned off so every epoch sees the same prompts
//   quality   the heads' predictions against the real values, and SAM's own IoU head against
//             the IoU of the mask it chose (psam eval's quality table)
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <vector>

#include "psam/models/model.h"
#include "psam/sam/mask_decoder.h"
#include "psam/sam/sam.h"

namespace psam::models {

// One MLP per target, registered under its name.
class UsamHeadsImpl : public torch::nn::Module {
 public:
  UsamHeadsImpl(int64_t input_dim, int64_t hidden, const std::vector<std::string>& names);
  // features [R, 2C] -> [R, heads] in (0, 1).
  torch::Tensor forward(const torch::Tensor& features);

 private:
  std::vector<sam::MLP> heads_;
};
TORCH_MODULE(UsamHeads);

class UsamNetImpl : public torch::nn::Module {
 public:
  UsamNetImpl(const sam::SamConfig& sam_config, int64_t hidden,
              const std::vector<std::string>& head_names);
  sam::Sam sam{nullptr};
  UsamHeads heads{nullptr};
};
TORCH_MODULE(UsamNet);

class UsamModel : public Model {
 public:
  // psam::Error unless config.latent_net is none (USAM's SAM has no latent nets).
  explicit UsamModel(const ModelConfig& config);

  torch::nn::Module& module() override { return *net_; }
  UsamNet& net() { return net_; }

  void prepare_loader(data::LoaderOptions& options, bool training) const override;
  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return true; }
  std::optional<CacheableEncoder> cacheable_encoder() override;
  std::vector<QualityPrediction> quality(const data::Batch& batch,
                                         const at::Tensor& annotators) override;
  std::vector<ExportPart> export_parts() const override;
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

  // Image+prompt records held by the token cache.
  int64_t cached_records() const { return static_cast<int64_t>(records_.size()); }

  // SAM's answer to one box prompt (plus points) in the frame.
  struct Decoded {
    at::Tensor logits;    // float [M,H,W] mask logits at the image size
    at::Tensor iou_pred;  // float [M] SAM's IoU head
    at::Tensor tokens;    // float [1+T,C] the IoU token's and the mask tokens' outputs
    int64_t chosen = 0;   // the mask SAM's IoU head ranks first
  };

 private:
  // The head inputs [1,2C] and targets [A,heads] of one case of a batch.
  struct Record {
    at::Tensor features, targets;
    double iou_pred = 0;  // SAM's own IoU head for the mask it chose
  };
  // `sam`'s answer (this SAM's or the larger one's), with its multimask setting.
  Decoded decode(sam::SamImpl& sam, bool multimask, const at::Tensor& embedding,
                 const at::Tensor& box, const at::Tensor& points, std::array<int64_t, 2> size);
  // The ground truths of a case [K,H,W]: all, or model.usam.annotator's.
  at::Tensor ground_truths(const at::Tensor& annotators) const;
  // `larger_embedding`: the larger SAM's, undefined without a model gap.
  Record compute_record(const at::Tensor& embedding, const at::Tensor& larger_embedding,
                        const at::Tensor& box, const at::Tensor& annotators,
                        std::array<int64_t, 2> size, int64_t index);
  at::Tensor embeddings(const data::Batch& batch);
  // The heads' input [2C] from this SAM's answer: the IoU token and model.usam.token's.
  at::Tensor head_input(const Decoded& d) const;
  // The larger SAM's embeddings [B,C',h,w] of frame images [B,3,S,S]; undefined without one.
  at::Tensor larger_embeddings(const at::Tensor& images);

  std::vector<std::string> head_names_;
  UsamNet net_;
  sam::Sam larger_{nullptr};  // model.usam.model_gap_from, read on first use
  std::map<std::string, Record> records_;
};

}  // namespace psam::models
