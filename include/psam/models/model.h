// The one interface every segmentation method implements. The trainer, the evaluator, predict and
// export see a method only through it; a method is a folder under models/ plus one line in the
// registry (models/registry.h).
//
// Frames: a method says how the data layer prepares its inputs (prepare_loader); batches come
// from data::Loader (or data::image_batch for a single image), and a method returns mask logits
// at the image's own size (batch.size), whatever frame it computes in.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "psam/data/loader/loader.h"
#include "psam/io/tensor_dict.h"
#include "psam/models/model_config.h"
#include "psam/train/loss.h"

namespace psam::data {
class EmbeddingCache;
}

namespace psam::models {

using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

// What sample() draws for one case.
struct CaseSamples {
  at::Tensor logits;  // float [n,H,W] mask logits at the image size, one per sample
  // float [H,W]: the method's single best guess (the decoding at the prior mean; the output
  // itself for a deterministic method; dropout off for MC dropout).
  at::Tensor mean_logits;
  at::Tensor z;  // [n,L] the latent codes drawn, where the method has them; else undefined
  // The method's predictions of the quality of mean_logits (USAM's heads, SAM's IoU head), as
  // (name, value); empty for a method that makes none.
  std::vector<std::pair<std::string, double>> scores;
};

// A method's prediction of a quantity of its own mask, against the real value for each ground
// truth of one case (psam eval's quality table).
struct QualityPrediction {
  std::string name;     // e.g. "usam.iou", "sam.iou_pred"
  bool is_iou = false;  // predicts an IoU: failure detection (actual < 0.5) is scored too
  std::vector<double> predicted, actual;  // one per ground truth
};

// A weight layout a method can export for other tools (psam export --part NAME).
struct ExportPart {
  std::string name;
  std::string description;
  // Holds every weight of the method: the file reproduces its predictions and metrics (SAM alone
  // out of a Probabilistic SAM does not).
  bool whole_method = false;
};

// The frozen image encoder of a method whose per-image embeddings may be cached.
struct CacheableEncoder {
  std::string fingerprint;              // of the encoder's weights (data::tensors_fingerprint)
  std::array<int64_t, 3> shape{};       // [C,h,w] of one embedding
  int64_t input_size = 0;               // side of the input frame the encoder reads
};

// Activation checkpointing of a method's parts while it trains (psam/util/activation_checkpoint.h):
// their activations are recomputed in backward instead of kept.
struct ActivationCheckpointing {
  int64_t image_encoder_stride = 0;  // ViT encoder blocks i with i % stride == 0; 0 = off
  bool mask_decoder = false;         // the layers of the mask decoder's two-way transformer
  bool latent_nets = false;          // the prior and posterior nets
};

class Model {
 public:
  explicit Model(ModelConfig config) : config_(std::move(config)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return config_; }
  const std::string& kind() const { return config_.kind; }

  // The module whose state dict checkpoints hold, with the method's own names.
  virtual torch::nn::Module& module() = 0;
  c10::Device device();
  void to(const c10::Device& device) { module().to(device); }

  // Sets the loader fields this method decides: the input frame (input_size, pixel statistics),
  // masks in that frame or at image size, the raw image. `training`: for loss() (else sample()).
  virtual void prepare_loader(data::LoaderOptions& options, bool training) const = 0;

  // The training loss of a batch at optimiser step `step` (0-based): the total and the named
  // terms to log. Randomness (posterior draws, dropout masks) comes from `generator` (a CPU
  // generator; on CUDA the default CUDA generator).
  virtual train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss,
                               int64_t step, at::Generator generator) = 0;

  // n masks for the one case in `batch` (batch size 1), drawn with `generator`, as ONE batched
  // computation where the method allows it. Call in eval mode without autograd.
  virtual CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) = 0;

  // Every sample of a case is the same (no randomness at inference).
  virtual bool deterministic() const = 0;

  // The parameters the optimiser updates, by state-dict name: by default those that require
  // gradients (each method sets requires_grad from its config).
  virtual NamedParameters trainable_parameters();

  // The frozen encoder whose outputs may be cached per store image; nullopt when the method has
  // none, or trains it (then no cache applies).
  virtual std::optional<CacheableEncoder> cacheable_encoder() { return std::nullopt; }

  // Sets `parts` on every such module of the method (a frozen part costs nothing: it keeps no
  // activations anyway); psam::Error naming a part the method does not have.
  void set_activation_checkpointing(const ActivationCheckpointing& parts);
  // Used by loss() and sample() for batches of store images (batch.index >= 0) while set; the
  // cache must be of this model's cacheable_encoder() and the batches' store.
  void set_embedding_cache(data::EmbeddingCache* cache) { cache_ = cache; }

  // For one case (batch of one, as sample() takes it) and its annotators' masks [K,H,W] at the
  // image size: the method's quality predictions against the real values; empty (the default)
  // for a method that predicts none. Call in eval mode without autograd.
  virtual std::vector<QualityPrediction> quality(const data::Batch& batch,
                                                 const at::Tensor& annotators) {
    (void)batch;
    (void)annotators;
    return {};
  }

  // The evaluator's calls for one case (sample() in chunks, then quality()) inside one scope
  // share the case's image embedding (case_embedding). The weights must not change inside it.
  class CaseScope {
   public:
    explicit CaseScope(Model& model) : model_(model) { model_.in_case_ = true; }
    ~CaseScope() {
      model_.in_case_ = false;
      model_.case_embedding_ = at::Tensor();
    }
    CaseScope(const CaseScope&) = delete;
    CaseScope& operator=(const CaseScope&) = delete;

   private:
    Model& model_;
  };

  // Weight layouts for other tools, and the state dict of one (psam::Error for another name).
  virtual std::vector<ExportPart> export_parts() const = 0;
  virtual io::TensorDict export_state(const std::string& part) = 0;

  // init_from a file that is not a psam checkpoint of this kind (e.g. official SAM weights):
  // loads what the method can take from it, logging what; psam::Error naming `source` when
  // nothing fits.
  virtual void init_from_foreign(const io::TensorDict& state, const std::string& source) = 0;

 protected:
  data::EmbeddingCache* embedding_cache() const { return cache_; }
  // compute() once inside a CaseScope, its result on later calls there; every call outside.
  at::Tensor case_embedding(const std::function<at::Tensor()>& compute);

 private:
  ModelConfig config_;
  data::EmbeddingCache* cache_ = nullptr;
  bool in_case_ = false;
  at::Tensor case_embedding_;
};

}  // namespace psam::models
