// Test-time augmentation (eval.tta: flips): each view's samples are mapped back before any
// metric. A model that commutes with mirrors gets exactly its own result back; one that does not
// gets a different one. Tall, wide and square stores.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psam/data/store/splits.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/eval/evaluator.h"
#include "psam/models/model.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::eval {
namespace {

// Logits from each pixel's own grey value plus one random offset per sample (from the case's
// generator): mirroring the image mirrors every sample. With `ramp`, a left-right slope is added,
// which a mirror does not move along.
class PointwiseModel : public models::Model {
 public:
  explicit PointwiseModel(bool ramp) : Model(models::ModelConfig{}), ramp_(ramp) {}
  torch::nn::Module& module() override { return module_; }
  void prepare_loader(data::LoaderOptions& o, bool) const override {
    o.input_size = data::kMinInputSize;
    o.raw_image = true;
    o.resize_masks = false;
  }
  train::StepLoss loss(const data::Batch&, const train::LossConfig&, int64_t,
                       at::Generator) override {
    fail("PointwiseModel does not train");
  }
  models::CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator g) override {
    at::Tensor mean = 12 * (batch.raw_image[0][0] - 0.3);
    if (ramp_) mean = mean + torch::linspace(-3, 3, mean.size(1)).unsqueeze(0);
    models::CaseSamples out;
    out.mean_logits = mean;
    out.logits = mean.unsqueeze(0) + torch::randn({n, 1, 1}, g);
    return out;
  }
  bool deterministic() const override { return false; }
  std::vector<models::ExportPart> export_parts() const override { return {}; }
  io::TensorDict export_state(const std::string&) override { fail("no weights"); }
  void init_from_foreign(const io::TensorDict&, const std::string&) override { fail("no weights"); }

 private:
  bool ramp_;
  torch::nn::Module module_;
};

data::DatasetStore make_store(const std::string& dir, int64_t h, int64_t w) {
  data::SynthOptions o;
  o.count = 8;
  o.height = h;
  o.width = w;
  o.oracle_draws = 0;
  o.samples_per_patient = 1;
  o.radius_min = 3;
  o.radius_max = 7;
  data::SplitOptions split;
  split.unit = "image";
  split.fractions = {{"train", 0.5}, {"test", 0.5}};
  data::generate_synthetic(dir, o, split);
  return data::DatasetStore::open(dir);
}

EvalConfig tta_config(geometry::TtaMode mode) {
  EvalConfig c;
  c.samples = 4;
  c.seed = 3;
  c.bootstrap_resamples = 50;
  c.figure_cases = 0;
  c.tta = mode;
  return c;
}

TEST(Tta, MirrorEquivariantModelGetsExactlyItsOwnResult) {
  support::TempDir dir;
  for (const auto& [h, w] : std::vector<std::array<int64_t, 2>>{{40, 24}, {24, 40}, {32, 32}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const auto store = make_store(dir.file(std::to_string(h) + "x" + std::to_string(w)), h, w);
    const auto test = store.split_indices("test");
    PointwiseModel model(/*ramp=*/false);
    const EvalResult plain = evaluate(model, store, test, tta_config(geometry::TtaMode::kNone));
    const EvalResult tta = evaluate(model, store, test, tta_config(geometry::TtaMode::kFlips));
    EXPECT_EQ(tta.tta, geometry::TtaMode::kFlips);
    ASSERT_EQ(plain.cases.size(), tta.cases.size());
    int64_t informative = 0;
    for (size_t k = 0; k < plain.cases.size(); ++k) {
      const auto a = plain.cases[k].metrics.scalars(), b = tta.cases[k].metrics.scalars();
      for (size_t m = 0; m < a.size(); ++m) {
        if (std::isnan(a[m].second)) {
          EXPECT_TRUE(std::isnan(b[m].second)) << a[m].first;
        } else {
          EXPECT_EQ(a[m].second, b[m].second) << a[m].first << " case " << k;
        }
      }
      informative += plain.cases[k].metrics.diversity > 0;
    }
    EXPECT_GT(informative, 0) << "the samples never differ: the test shows nothing";

    // Not mirror-equivariant: the views disagree, so their mean differs from the image's own.
    PointwiseModel slanted(/*ramp=*/true);
    const EvalResult a = evaluate(slanted, store, test, tta_config(geometry::TtaMode::kNone));
    const EvalResult b = evaluate(slanted, store, test, tta_config(geometry::TtaMode::kFlips));
    bool differs = false;
    for (size_t k = 0; k < a.cases.size(); ++k)
      differs = differs || a.cases[k].metrics.ncc != b.cases[k].metrics.ncc;
    EXPECT_TRUE(differs);
  }
}

}  // namespace
}  // namespace psam::eval
