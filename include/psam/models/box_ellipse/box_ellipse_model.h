// model.kind box_ellipse: the prompt-only baseline. Its one mask is the ellipse inscribed in the
// prompt box, drawn at the image's own size; it reads no pixels and learns nothing. A learned
// method that does not beat it has learned nothing from the image.
//   box      the loader's box in image pixels (Batch.image_box), max inclusive: it covers pixel
//            centres x0..x1, so the ellipse has centre ((x0+x1)/2, (y0+y1)/2) and semi-axes
//            ((x1-x0+1)/2, (y1-y0+1)/2); a pixel is inside when its centre is on or in it
//   frame    none: the loader makes its smallest frame (kMinInputSize), which nothing reads
//   samples  n copies of the one mask (deterministic); logits +-kLogit
//   weights  none: psam train refuses it; psam eval --kind box_ellipse and psam predict --kind
//            box_ellipse run it without a checkpoint
#pragma once

#include "psam/models/model.h"

namespace psam::models {

class BoxEllipseModel : public Model {
 public:
  // |logit| of every pixel: sigmoid gives 1 - 2e-9 inside, so probabilities stay finite.
  static constexpr double kLogit = 20.0;

  explicit BoxEllipseModel(const ModelConfig& config) : Model(config) {}

  torch::nn::Module& module() override { return module_; }
  void prepare_loader(data::LoaderOptions& options, bool training) const override;
  train::StepLoss loss(const data::Batch& batch, const train::LossConfig& loss, int64_t step,
                       at::Generator generator) override;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override;
  bool deterministic() const override { return true; }
  std::vector<ExportPart> export_parts() const override { return {}; }
  io::TensorDict export_state(const std::string& part) override;
  void init_from_foreign(const io::TensorDict& state, const std::string& source) override;

 private:
  torch::nn::Module module_;  // no parameters, no buffers
};

// The ellipse inscribed in `box` (x0, y0, x1, y1 in pixels, max inclusive) as a bool [H,W]
// mask of an image of `size` (H, W).
at::Tensor box_ellipse_mask(const data::Box& box, std::array<int64_t, 2> size);

}  // namespace psam::models
