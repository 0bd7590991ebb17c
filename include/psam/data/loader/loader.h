// Batches from a dataset store for training and evaluation.
//
// Determinism: the epoch's order, the annotator drawn for a sample, its augmentation and its
// box jitter are functions of (seed, epoch, position in the epoch) only, never of thread
// scheduling; batches come out in order whatever the worker count, and position()/seek() let a
// trainer save and resume the exact stream.
//
// Per sample: intensity mapping to [0, 1] (HU window, per-image min-max, or the store's own
// scale), the TTA view and the training augmentation (augment.h) at store size, 3-channel
// replication, resize so the longest side is input_size (bilinear; as SAM's ResizeLongestSide), SAM
// pixel normalisation (x*255 - mean) / std, zero padding to input_size x input_size (as
// Sam.preprocess). The box comes from a prompt mask (the union of the annotators by default) and is
// given in that input frame.
//
// input_size 0: no SAM frame, for methods that read the image at its own size (the
// Probabilistic U-Net): no `image`, the [0,1] `raw_image` instead, masks at store size and boxes
// in image pixels.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "psam/data/loader/augment.h"
#include "psam/data/loader/boxes.h"
#include "psam/data/store/store.h"
#include "psam/geometry/dihedral.h"

namespace psam::data {

enum class AnnotatorMode {
  kRandomOne,  // one annotator per sample and step, uniformly (the reference's training rule)
  kAll,        // all K masks
  kFixed,      // always annotator `annotator`
};
inline constexpr NameTable<AnnotatorMode, 3> kAnnotatorModeNames = {{
    {AnnotatorMode::kRandomOne, "random_one"},
    {AnnotatorMode::kAll, "all"},
    {AnnotatorMode::kFixed, "fixed"},
}};
constexpr const auto& enum_names(AnnotatorMode) { return kAnnotatorModeNames; }
AnnotatorMode annotator_mode_from_string(const std::string& name);  // random_one | all | fixed

enum class IntensityMapping {
  kAuto,    // HU stores: the window; unit stores: as stored; uint8 stores: / 255
  kWindow,  // HU window [center - width/2, center + width/2] -> [0, 1], clamped (HU stores)
  kMinMax,  // per-image (min, max) -> (0, 1), the reference's rule
};
inline constexpr NameTable<IntensityMapping, 3> kIntensityMappingNames = {{
    {IntensityMapping::kAuto, "auto"},
    {IntensityMapping::kWindow, "window"},
    {IntensityMapping::kMinMax, "minmax"},
}};
constexpr const auto& enum_names(IntensityMapping) { return kIntensityMappingNames; }
IntensityMapping intensity_mapping_from_string(const std::string& name);  // auto | window | minmax

// The smallest input frame the loader makes (a method that reads no pixels asks for this one).
inline constexpr int64_t kMinInputSize = 16;

struct LoaderOptions {
  int64_t batch_size = 1;
  int64_t workers = 0;   // threads making batches; 0 = in the calling thread
  int64_t prefetch = 2;  // batches made ahead per worker
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int64_t input_size = 1024;  // SAM's image_encoder.img_size; 0 = no frame (needs raw_image)
  // SAM's pixel normalisation of 0..255 values (Sam.pixel_mean / pixel_std); the model sets them.
  std::array<double, 3> pixel_mean = {123.675, 116.28, 103.53};
  std::array<double, 3> pixel_std = {58.395, 57.12, 57.375};
  AnnotatorMode annotators = AnnotatorMode::kRandomOne;
  int64_t annotator = 0;  // for kFixed
  IntensityMapping intensity = IntensityMapping::kAuto;
  // The standard radiological lung window (level -600, width 1500 -> -1350..150 HU): aerated
  // lung, ground-glass and solid nodules, and vessels stay distinguishable, while bone and air
  // outside the body saturate.
  double window_center = -600;
  double window_width = 1500;
  double box_jitter = 0;  // each box side moves by up to this fraction of the box size
  PromptSource prompt = PromptSource::kUnion;
  bool raw_image = false;     // also yield the [0,1] image at store size (for the latent nets)
  bool resize_masks = false;  // masks in the input frame (nearest) instead of store size
  // Training augmentation (augment.h); the training loader only.
  AugmentOptions augment;
  // A fixed grid symmetry applied to every sample before anything else: a test-time
  // augmentation view (odd quarter turns need square images).
  geometry::Dihedral view;
  // Data parallelism: a batch position names a global batch of batch_size * shard_count samples
  // of the epoch's order, and this process makes its shard_rank-th slice of batch_size (the
  // last global batch may leave a slice short or empty). Every sample once per epoch; one
  // process with batch_size * shard_count sees the same samples in the same steps.
  int64_t shard_rank = 0;
  int64_t shard_count = 1;
};

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;  // index in the epoch of the next batch next() returns
};

struct Batch {
  at::Tensor image;      // float [B,3,S,S], SAM-normalised, zero-padded; none if S = 0
  at::Tensor raw_image;  // float [B,3,H,W] in [0,1] (options.raw_image) else undefined
  at::Tensor masks;      // uint8 [B,K',H,W] (K' = K for kAll, else 1); [B,K',S,S] if resized
  at::Tensor box;        // float [B,4] (x0,y0,x1,y1), pixels of the S frame (S = 0: image)
  at::Tensor image_box;  // float [B,4] the same box in the image's own pixels
  at::Tensor annotator;  // int64 [B]: the annotator of masks[:,0] (-1 for kAll)
  std::array<int64_t, 2> size{};  // H, W: the images' own size (the store's)
  int64_t global_count = 0;       // samples of the global batch across every shard (= B unsharded)
  std::vector<int64_t> index;     // store indices (-1 for an image outside any store)
  std::vector<std::string> ids;   // sample ids
  LoaderPosition position;        // where this batch sits in the stream
};

// The options that change pixel values (intensity mapping and HU window) as JSON text, stored
// with checkpoints so a model is always fed what it was trained on; and back into `options`
// (psam::Error naming `source` on malformed text).
std::string intensity_json(const LoaderOptions& options);
void read_intensity_json(const std::string& json, LoaderOptions& options,
                         const std::string& source);

// One image outside any store (psam predict), prepared exactly as the loader prepares a store
// sample: image [H,W] or [H,W,C] (C = 1 or 3), float or uint8 values of the declared
// `intensity`; box (x0, y0, x1, y1) in image pixels. A batch of one with masks undefined,
// index -1 and id "image".
Batch image_batch(const at::Tensor& image, Intensity intensity, const Box& box,
                  const LoaderOptions& options);

class Loader {
 public:
  // indices: the store samples to iterate (e.g. store->split_indices("train")).
  Loader(std::shared_ptr<const DatasetStore> store, std::vector<int64_t> indices,
         const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const { return options_; }

  // The next batch of the current epoch; at the end of an epoch returns nullopt once and moves
  // on to the next epoch, so `while (auto b = loader.next())` runs one epoch.
  std::optional<Batch> next();
  LoaderPosition position() const;
  void seek(const LoaderPosition& position);

  // The batch at `position`, made in the calling thread: what next() returns there.
  Batch make_batch(const LoaderPosition& position) const;
  // Store indices of the epoch in iteration order.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct Pipeline;
  void begin(const LoaderPosition& position);

  std::shared_ptr<const DatasetStore> store_;
  std::vector<int64_t> indices_;
  LoaderOptions options_;
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace psam::data
