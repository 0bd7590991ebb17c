// Non-square stores end to end. A model whose decoder output is a known mask in SAM's S x S frame
// must come back on the store's own pixels in training targets, in evaluation and in prediction
// of one image, for tall, wide and square images: IoU 1, not "close". The frame is the real
// method's (ProbSamModel::prepare_loader); the logits go back through geometry::frame_to_image, the
// one rule every SAM-based method uses.
//
// Each shape is paired with a frame S that holds the image at exactly twice its size and
// objects with even coordinates, so the expected frame masks follow from arithmetic alone:
// image rows [y0, y1) are frame rows [2 y0, 2 y1) and decoder rows [y0 / 2, y1 / 2) (the decoder
// grid is S / 4).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "psam/geometry/frame.h"
#include "psam/data/loader/loader.h"
#include "psam/data/store/splits.h"
#include "psam/data/store/store.h"
#include "psam/eval/evaluator.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/sam/sam.h"
#include "support/testing.h"
#include "support/tiny_prob_sam.h"

namespace psam::models {
namespace {

struct Shape {
  int64_t h, w, s;
};
const Shape kShapes[] = {{48, 80, 160}, {80, 48, 160}, {64, 64, 128}};

// [y0, y1) x [x0, x1) in image pixels, all even.
struct Rect {
  int64_t y0, x0, y1, x1;
};

// One object per sample, near the corners and the centre: the farther from the top-left, the
// larger a misplacement by a wrong frame rule.
std::vector<Rect> rects(const Shape& s) {
  const auto even = [](int64_t v) { return v - v % 2; };
  return {{even(s.h * 3 / 4), even(s.w * 3 / 4), even(s.h - 4), even(s.w - 2)},
          {2, 4, 12, 16},
          {even(s.h / 2 - 6), even(s.w / 2 - 4), even(s.h / 2 + 6), even(s.w / 2 + 8)},
          {even(s.h - 14), 2, even(s.h - 2), 10}};
}

at::Tensor rect_mask(const Rect& r, int64_t h, int64_t w, int64_t scale_num, int64_t scale_den) {
  at::Tensor m = torch::zeros({h, w}, torch::kBool);
  m.slice(0, r.y0 * scale_num / scale_den, r.y1 * scale_num / scale_den)
      .slice(1, r.x0 * scale_num / scale_den, r.x1 * scale_num / scale_den)
      .fill_(true);
  return m;
}

// uint8 images (object 255, background 0), three annotators who all mark the object: the
// union box, the majority and every annotator agree. Every sample in the test split.
void make_store(const std::string& dir, const Shape& s) {
  data::DatasetInfo info;
  info.name = "frame";
  info.count = static_cast<int64_t>(rects(s).size());
  info.annotators = 3;
  info.height = s.h;
  info.width = s.w;
  info.image_dtype = at::kByte;
  info.intensity = data::Intensity::kUint8;
  data::DatasetWriter writer(dir, info);
  int64_t i = 0;
  for (const Rect& r : rects(s)) {
    const at::Tensor mask = rect_mask(r, s.h, s.w, 1, 1);
    const at::Tensor image =
        torch::where(mask, torch::full({}, 255), torch::full({}, 0)).to(torch::kByte);
    data::SampleMeta meta;
    meta.id = "case" + std::to_string(i);
    meta.patient_id = "p" + std::to_string(i++);
    writer.add(image, mask.unsqueeze(0).expand({3, -1, -1}), meta);
  }
  data::SplitOptions split;
  split.fractions = {{"test", 1.0}};
  writer.commit(data::make_splits(writer.meta(), split));
}

ModelConfig sam_config(int64_t img_size) {
  ModelConfig c;
  c.prob = test::tiny_prob_sam_config("none");
  c.prob.sam.img_size = img_size;
  return c;
}

// A SAM-frame method whose "decoder" returns a fixed logit map on its S/4 grid: the real
// method's frame (prepare_loader of a ProbSamModel) and the real way back (frame_to_image).
class FixedDecoderModel : public Model {
 public:
  using Decoder = std::function<at::Tensor(const data::Batch&)>;  // -> [1,1,S/4,S/4]
  FixedDecoderModel(int64_t img_size, Decoder decoder)
      : Model(sam_config(img_size)), sam_(sam_config(img_size)), decoder_(std::move(decoder)) {}

  torch::nn::Module& module() override { return module_; }
  void prepare_loader(data::LoaderOptions& o, bool training) const override {
    sam_.prepare_loader(o, training);
  }
  train::StepLoss loss(const data::Batch&, const train::LossConfig&, int64_t,
                       at::Generator) override {
    return {};
  }
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator) override {
    const int64_t s = config().prob.sam.img_size;
    CaseSamples out;
    out.mean_logits = geometry::frame_to_image(decoder_(batch), s, batch.size)[0][0];
    out.logits = out.mean_logits.unsqueeze(0).expand({n, -1, -1});
    return out;
  }
  bool deterministic() const override { return true; }
  std::vector<ExportPart> export_parts() const override { return {}; }
  io::TensorDict export_state(const std::string&) override { return {}; }
  void init_from_foreign(const io::TensorDict&, const std::string&) override {}

 private:
  torch::nn::Module module_;
  ProbSamModel sam_;
  Decoder decoder_;
};

// +-10 logits of the rectangle on the decoder grid (S/4: half the image's scale).
at::Tensor decoder_logits(const Rect& r, int64_t s) {
  const at::Tensor m = rect_mask(r, s / 4, s / 4, 1, 2);
  return torch::where(m, torch::full({}, 10.0f), torch::full({}, -10.0f))
      .view({1, 1, s / 4, s / 4});
}

double iou(const at::Tensor& a, const at::Tensor& b) {
  const double inter = (a & b).sum().item<double>(), uni = (a | b).sum().item<double>();
  return uni == 0 ? 1.0 : inter / uni;
}

class FrameAlignment : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    make_store(dir_.file("store"), GetParam());
    store_ = std::make_shared<data::DatasetStore>(data::DatasetStore::open(dir_.file("store")));
  }
  support::TempDir dir_;
  std::shared_ptr<data::DatasetStore> store_;
};

// Training: the target the loss compares with sits in the frame exactly where the decoder's
// mask (upsampled to the frame, as the loss sees it) is, and so do the box and the image.
TEST_P(FrameAlignment, TrainingTargetsMatchTheDecoderFrame) {
  const Shape shape = GetParam();
  const ProbSamModel sam(sam_config(shape.s));
  const std::vector<Rect> objects = rects(shape);
  for (int64_t batch_size : {1, 3}) {
    data::LoaderOptions o;
    sam.prepare_loader(o, /*training=*/true);
    o.batch_size = batch_size;
    o.shuffle = false;
    ASSERT_EQ(o.input_size, shape.s);
    ASSERT_TRUE(o.resize_masks);
    data::Loader loader(store_, store_->split_indices("test"), o);
    while (auto batch = loader.next()) {
      ASSERT_EQ(batch->masks.sizes(),
                (std::vector<int64_t>{batch->image.size(0), 1, shape.s, shape.s}));
      for (int64_t b = 0; b < batch->image.size(0); ++b) {
        const Rect& r = objects[batch->index[b]];
        const at::Tensor expected = rect_mask(r, shape.s, shape.s, 2, 1);
        const at::Tensor target = batch->masks[b][0].to(torch::kBool);
        EXPECT_EQ(iou(target, expected), 1.0) << batch->ids[b];
        // The decoder's mask as the loss sees it (upsampled 4x to the frame) covers the target
        // pixel for pixel, but for its four corners: bilinear upsampling rounds each by one
        // pixel (the weight of the inside there is 0.625^2 < 1/2).
        const at::Tensor decoded =
            geometry::resize_logits(decoder_logits(r, shape.s), {shape.s, shape.s})[0][0] > 0;
        at::Tensor rounded = expected.clone();
        for (int64_t y : {2 * r.y0, 2 * r.y1 - 1})
          for (int64_t x : {2 * r.x0, 2 * r.x1 - 1}) rounded[y][x] = false;
        EXPECT_TRUE(torch::equal(decoded, rounded)) << batch->ids[b];
        // Box: the object's first and last pixels, twice as far from the origin.
        const at::Tensor box =
            torch::tensor({2.0f * r.x0, 2.0f * r.y0, 2.0f * (r.x1 - 1), 2.0f * (r.y1 - 1)});
        EXPECT_TRUE(torch::allclose(batch->box[b], box)) << batch->box[b];
        // Image: the bright object (channel 0, SAM-normalised: above the middle of the object
        // and background values, which the zero padding is below) covers the target.
        const at::Tensor plane = batch->image[b][0];
        const at::Tensor bright =
            plane > (plane.max().item<float>() + plane.min().item<float>()) / 2;
        EXPECT_EQ(iou(bright, expected), 1.0) << batch->ids[b];
      }
    }
  }
}

// Evaluation: the decoder's frame mask, brought back by the evaluator's method, equals every
// annotator's mask (IoU and DSC 1, GED 0), and the figures show it on the store's pixels. The
// rule this replaced (the S x S logits resized straight to H x W) misplaces it on non-square
// images, so the test tells the two apart.
TEST_P(FrameAlignment, EvaluationScoresTheDecoderMaskOnStorePixels) {
  const Shape shape = GetParam();
  const std::vector<Rect> objects = rects(shape);
  FixedDecoderModel model(
      shape.s, [&](const data::Batch& b) { return decoder_logits(objects[b.index[0]], shape.s); });
  eval::EvalConfig config;
  config.samples = 2;
  config.figure_cases = 4;
  config.bootstrap_resamples = 10;
  const eval::EvalResult r = eval::evaluate(model, *store_, store_->split_indices("test"), config);
  ASSERT_EQ(r.cases.size(), objects.size());
  for (const auto& c : r.cases) {
    EXPECT_EQ(c.metrics.iou, 1.0) << c.id;
    EXPECT_EQ(c.metrics.dsc, 1.0) << c.id;
    EXPECT_EQ(c.metrics.ged, 0.0) << c.id;
  }
  for (const auto& f : r.figures) {
    EXPECT_TRUE(torch::equal(f.samples[0], store_->masks()[f.index][0])) << f.id;
    EXPECT_EQ(f.image.sizes(), (std::vector<int64_t>{3, shape.h, shape.w}));
  }
  if (shape.h == shape.w) return;
  for (size_t i = 0; i < objects.size(); ++i) {
    const at::Tensor frame =
        geometry::resize_logits(decoder_logits(objects[i], shape.s), {shape.s, shape.s});
    const at::Tensor old_rule = geometry::resize_logits(frame, {shape.h, shape.w})[0][0] > 0;
    EXPECT_LT(iou(old_rule, store_->masks()[i][0].to(torch::kBool)), 0.8) << i;
  }
}

// Prediction of one image (psam predict --samples): data::image_batch prepares it exactly as
// the loader prepares the store sample, and the decoder's mask comes back on its pixels.
TEST_P(FrameAlignment, PredictionOfOneImageMatchesTheStore) {
  const Shape shape = GetParam();
  const std::vector<Rect> objects = rects(shape);
  const Rect* current = nullptr;
  FixedDecoderModel model(shape.s,
                          [&](const data::Batch&) { return decoder_logits(*current, shape.s); });
  data::LoaderOptions o;
  model.prepare_loader(o, /*training=*/false);
  o.shuffle = false;
  data::Loader loader(store_, store_->split_indices("test"), o);
  while (auto stored = loader.next()) {
    const int64_t i = stored->index[0];
    current = &objects[i];
    const Rect& r = objects[i];
    const data::Box box{static_cast<float>(r.x0), static_cast<float>(r.y0),
                        static_cast<float>(r.x1 - 1), static_cast<float>(r.y1 - 1)};
    const data::Batch single =
        data::image_batch(store_->images()[i], data::Intensity::kUint8, box, o);
    EXPECT_TRUE(torch::equal(single.image, stored->image)) << i;
    EXPECT_TRUE(torch::equal(single.box, stored->box)) << i;
    EXPECT_TRUE(torch::equal(single.image_box, stored->image_box)) << i;
    const CaseSamples out = model.sample(single, 1, at::make_generator<at::CPUGeneratorImpl>(0));
    ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, shape.h, shape.w}));
    EXPECT_EQ(iou(out.logits[0] > 0, store_->masks()[i][0].to(torch::kBool)), 1.0) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(TallWideSquare, FrameAlignment, ::testing::ValuesIn(kShapes),
                         [](const ::testing::TestParamInfo<Shape>& p) {
                           return std::to_string(p.param.h) + "x" + std::to_string(p.param.w);
                         });

}  // namespace
}  // namespace psam::models
