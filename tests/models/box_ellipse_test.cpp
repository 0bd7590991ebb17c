// box_ellipse, the prompt-only baseline: the ellipse inscribed in the prompt box, at the image's
// own size, through the registry like any method.
#include "psam/models/box_ellipse/box_ellipse_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/data/loader/loader.h"
#include "psam/data/store/splits.h"
#include "psam/eval/evaluator.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::models {
namespace {

at::Tensor grid(const std::vector<std::string>& rows) {
  at::Tensor m = torch::zeros(
      {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, torch::kBool);
  for (size_t y = 0; y < rows.size(); ++y)
    for (size_t x = 0; x < rows[y].size(); ++x) m[y][x] = rows[y][x] == '#';
  return m;
}

// By hand: box (2, 1, 6, 3) covers pixel centres x 2..6, y 1..3, so the ellipse has centre
// (4, 2) and semi-axes 2.5, 1.5. Row 2 keeps |x - 4| <= 2.5; rows 1 and 3 keep
// (x - 4)^2 <= 6.25 * (1 - 1/2.25), |x - 4| <= 1.86; rows 0 and 4 lie outside.
TEST(BoxEllipse, MaskIsTheInscribedEllipse) {
  EXPECT_TRUE(
      torch::equal(box_ellipse_mask({2, 1, 6, 3}, {5, 9}),
                   grid({".........", "...###...", "..#####..", "...###...", "........."})));
  // A one-pixel box is that pixel; the box of the whole image: rows 1-3 keep |x - 4| <= 4.12,
  // rows 0 and 4 (0.8 of the semi-axis away) |x - 4| <= 2.7.
  EXPECT_TRUE(torch::equal(box_ellipse_mask({1, 0, 1, 0}, {2, 3}), grid({".#.", "..."})));
  EXPECT_TRUE(
      torch::equal(box_ellipse_mask({0, 0, 8, 4}, {5, 9}),
                   grid({"..#####..", "#########", "#########", "#########", "..#####.."})));
}

// A 30 x 50 store whose three annotators each mark an ellipse inscribed in the same box: the
// baseline reproduces it exactly (the box comes from the union of the masks), deterministically.
TEST(BoxEllipse, ReproducesEllipsesOfANonSquareStore) {
  support::TempDir dir;
  const std::vector<data::Box> boxes = {{30, 14, 44, 26}, {3, 2, 17, 9}, {20, 5, 28, 24}};
  data::DatasetInfo info;
  info.name = "ellipses";
  info.count = 3;
  info.annotators = 3;
  info.height = 30;
  info.width = 50;
  info.image_dtype = at::kByte;
  info.intensity = data::Intensity::kUint8;
  {
    data::DatasetWriter writer(dir.file("store"), info);
    for (size_t i = 0; i < boxes.size(); ++i) {
      const at::Tensor mask = box_ellipse_mask(boxes[i], {30, 50});
      data::SampleMeta meta;
      meta.id = "e" + std::to_string(i);
      meta.patient_id = meta.id;
      writer.add(mask.to(torch::kByte) * 200, mask.unsqueeze(0).expand({3, -1, -1}), meta);
    }
    data::SplitOptions split;
    split.fractions = {{"test", 1.0}};
    writer.commit(data::make_splits(writer.meta(), split));
  }
  const data::DatasetStore store = data::DatasetStore::open(dir.file("store"));
  auto model = build_unlearned("box_ellipse", torch::kCPU);
  EXPECT_TRUE(model->deterministic());
  EXPECT_TRUE(model->trainable_parameters().empty());
  eval::EvalConfig config;
  config.samples = 3;
  config.bootstrap_resamples = 10;
  const eval::EvalResult r = eval::evaluate(*model, store, store.split_indices("test"), config);
  ASSERT_EQ(r.cases.size(), 3u);
  for (const auto& c : r.cases) {
    EXPECT_EQ(c.metrics.dsc, 1.0) << c.id;
    EXPECT_EQ(c.metrics.ged, 0.0) << c.id;
  }

  // One case through the loader: n equal samples, logits of both signs.
  data::LoaderOptions o;
  model->prepare_loader(o, false);
  o.shuffle = false;
  data::Loader loader(std::make_shared<data::DatasetStore>(store), {0}, o);
  const auto batch = loader.next();
  const CaseSamples s = model->sample(*batch, 4, at::make_generator<at::CPUGeneratorImpl>(1));
  ASSERT_EQ(s.logits.sizes(), (std::vector<int64_t>{4, 30, 50}));
  EXPECT_TRUE(torch::equal(s.logits[3], s.mean_logits));
  EXPECT_TRUE(torch::equal(s.mean_logits > 0, box_ellipse_mask(boxes[0], {30, 50})));
}

TEST(BoxEllipse, LearnsNothingAndSaysSo) {
  EXPECT_FALSE(registry_entry("box_ellipse").learns);
  EXPECT_TRUE(registry_entry("prob_sam").learns);
  try {
    build_unlearned("prob_sam", torch::kCPU);
    FAIL() << "prob_sam built without weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("learns its weights"), std::string::npos) << e.what();
  }
  auto model = build_unlearned("box_ellipse", torch::kCPU);
  EXPECT_THROW(model->export_state("sam"), Error);
  EXPECT_THROW(model->loss({}, {}, 0, at::make_generator<at::CPUGeneratorImpl>(0)), Error);
}

}  // namespace
}  // namespace psam::models
