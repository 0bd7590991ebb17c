#include "psam/models/box_ellipse/box_ellipse_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/sam_common.h"
#include "psam/util/error.h"

namespace psam::models {

at::Tensor box_ellipse_mask(const data::Box& box, std::array<int64_t, 2> size) {
  const double cx = (box.x0 + box.x1) / 2.0, cy = (box.y0 + box.y1) / 2.0;
  const double ax = (box.x1 - box.x0 + 1) / 2.0, ay = (box.y1 - box.y0 + 1) / 2.0;
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const at::Tensor dy = ((torch::arange(size[0], opts) - cy) / ay).pow(2).unsqueeze(1);
  const at::Tensor dx = ((torch::arange(size[1], opts) - cx) / ax).pow(2).unsqueeze(0);
  return (dy + dx) <= 1.0;
}

void BoxEllipseModel::prepare_loader(data::LoaderOptions& options, bool /*training*/) const {
  options.input_size = data::kMinInputSize;
  options.resize_masks = false;
}

train::StepLoss BoxEllipseModel::loss(const data::Batch&, const train::LossConfig&, int64_t,
                                      at::Generator) {
  fail("box_ellipse learns nothing: it has no training loss");
}

CaseSamples BoxEllipseModel::sample(const data::Batch& batch, int64_t n, at::Generator) {
  check_one_case(batch, "box_ellipse");
  PSAM_CHECK(n >= 1, fmt::format("box_ellipse: sample count must be >= 1, got {}", n));
  const at::Tensor b = batch.image_box[0].to(torch::kCPU, torch::kFloat).contiguous();
  const float* p = b.data_ptr<float>();
  const at::Tensor inside = box_ellipse_mask({p[0], p[1], p[2], p[3]}, batch.size);
  CaseSamples out;
  out.mean_logits =
      torch::where(inside, torch::full({}, kLogit), torch::full({}, -kLogit)).to(torch::kFloat);
  out.logits = out.mean_logits.unsqueeze(0).expand({n, -1, -1});
  return out;
}

io::TensorDict BoxEllipseModel::export_state(const std::string& part) {
  fail(fmt::format("box_ellipse has no weights to export (no part '{}')", part));
}

void BoxEllipseModel::init_from_foreign(const io::TensorDict&, const std::string& source) {
  fail(fmt::format("{}: box_ellipse has no weights to initialise", source));
}

}  // namespace psam::models
