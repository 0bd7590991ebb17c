// USAM's heads on a tiny SAM: they train (the MSE falls), the token cache gives exactly the
// loss of recomputing, the quality predictions score SAM's mask against the annotators, and
// the model gap is the larger SAM's IoU gain.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "psam/eval/metrics.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/load.h"
#include "psam/models/registry.h"
#include "psam/models/usam/usam_model.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "models/train_method.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

ModelConfig tiny_usam() {
  ModelConfig m = test::tiny_model("none");
  m.kind = "usam";
  m.usam.hidden = 32;
  return m;
}

std::shared_ptr<const data::DatasetStore> tiny_store(const std::string& dir) {
  test::make_synthetic_store(dir);
  return std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir));
}

// The test split one case at a time, as the evaluator reads it for `model`.
data::Loader test_cases(const Model& model,
                        const std::shared_ptr<const data::DatasetStore>& store) {
  auto options = test::tiny_loader_options(false);
  model.prepare_loader(options, false);
  options.batch_size = 1;
  return data::Loader(store, store->split_indices("test"), options);
}

TEST(UsamModel, ConfigIsChecked) {
  ModelConfig latent = tiny_usam();
  latent.prob.latent_net = prob::LatentNetKind::kReference;
  EXPECT_THROW(build_model(latent, torch::kCPU), Error);
  ModelConfig token = tiny_usam();
  token.usam.token = 4;  // the tiny SAM has mask tokens 0..3
  EXPECT_THROW(build_model(token, torch::kCPU), Error);
  const auto model = build_model(tiny_usam(), torch::kCPU);
  // Only the heads learn.
  for (const auto& [name, p] : model->trainable_parameters())
    EXPECT_EQ(name.rfind("heads.", 0), 0u) << name;
}

TEST(UsamModel, CachedTokensGiveTheLossOfRecomputing) {
  support::TempDir dir;
  const auto store = tiny_store(dir.path() + "/store");
  ModelConfig cached = tiny_usam(), fresh = tiny_usam();
  fresh.usam.cache_tokens = false;
  torch::manual_seed(3);
  auto a = build_model(cached, torch::kCPU);
  torch::manual_seed(3);
  auto b = build_model(fresh, torch::kCPU);
  auto options = test::tiny_loader_options(true);
  a->prepare_loader(options, true);
  EXPECT_EQ(options.box_jitter, 0);
  data::Loader loader(store, store->split_indices("train"), options);
  const data::Batch batch = *loader.next();
  ASSERT_EQ(batch.masks.size(1), 4);  // every annotator
  at::Generator g = at::detail::createCPUGenerator(0);
  const auto first = a->loss(batch, {}, 0, g);
  auto& usam = dynamic_cast<UsamModel&>(*a);
  EXPECT_EQ(usam.cached_records(), 2);
  const auto again = a->loss(batch, {}, 1, g);  // from the cache: no encoder, no decoder
  const auto recomputed = b->loss(batch, {}, 0, g);
  EXPECT_EQ(dynamic_cast<UsamModel&>(*b).cached_records(), 0);
  // Bit equality: a record is computed the same way (same weights, same shapes) whether it is
  // cached or not, and the heads see the same batch of records.
  EXPECT_EQ(first.total.item<double>(), again.total.item<double>());
  EXPECT_EQ(first.total.item<double>(), recomputed.total.item<double>());
  ASSERT_EQ(first.terms.size(), 4u);
  EXPECT_EQ(first.terms[0].first, "mse_iou");
}

TEST(UsamModel, HeadsTrainOnATinySam) {
  support::TempDir dir;
  const auto store = tiny_store(dir.path() + "/store");
  torch::manual_seed(1);
  const auto model = build_model(tiny_usam(), torch::kCPU);
  train::TrainConfig config = test::tiny_train_config();
  config.optimizer = train::OptimizerKind::kSgd;
  config.lr = 0.05;
  config.weight_decay = 1e-3;
  config.grad_clip = 0;
  config.epochs = 8;
  config.val_every_epochs = 8;
  const auto run = test::train_method(*model, store, config, {}, dir.path() + "/run");
  ASSERT_EQ(run.result.status, train::TrainStatus::kFinished);
  std::vector<double> epoch_loss;
  for (const auto& j : run.epochs) epoch_loss.push_back(j["train/loss"].get<double>());
  ASSERT_EQ(epoch_loss.size(), 8u);
  EXPECT_LT(epoch_loss.back(), 0.7 * epoch_loss.front())
      << "first epoch " << epoch_loss.front() << ", last " << epoch_loss.back();
  // Every training (and validation) case was decoded once and then served from the cache.
  EXPECT_EQ(dynamic_cast<UsamModel&>(*model).cached_records(),
            static_cast<int64_t>(store->split_indices("train").size() +
                                 store->split_indices("val").size()));
}

TEST(UsamModel, QualityScoresSamsOwnMaskAgainstEachAnnotator) {
  support::TempDir dir;
  const auto store = tiny_store(dir.path() + "/store");
  torch::manual_seed(5);
  auto model = build_model(tiny_usam(), torch::kCPU);
  data::Loader loader = test_cases(*model, store);
  torch::NoGradGuard no_grad;
  model->module().eval();
  for (int k = 0; k < 3; ++k) {
    const data::Batch batch = *loader.next();
    const auto drawn = model->sample(batch, 2, at::detail::createCPUGenerator(0));
    const at::Tensor annotators = store->masks()[batch.index[0]];
    const auto quality = model->quality(batch, annotators);
    ASSERT_EQ(quality.size(), 5u);
    EXPECT_EQ(quality[4].name, "sam.iou_pred");
    // The real value of SAM's IoU head: the IoU of the returned mask with each annotator.
    const at::Tensor d = eval::iou_distance_matrix((drawn.mean_logits > 0).unsqueeze(0), annotators,
                                                   eval::IouConvention::kPhiseg);
    ASSERT_EQ(quality[4].actual.size(), 4u);
    for (int64_t a = 0; a < 4; ++a)
      EXPECT_NEAR(quality[4].actual[a], 1 - d[0][a].item<double>(), 1e-6);  // float targets
    // The predictions are the scores sample() reports (gaps shifted back).
    ASSERT_EQ(drawn.scores.size(), 5u);
    EXPECT_DOUBLE_EQ(quality[0].predicted[0], drawn.scores[0].second);
    EXPECT_NEAR(quality[2].predicted[0], drawn.scores[2].second + 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(quality[4].predicted[0], drawn.scores[4].second);
    EXPECT_TRUE(torch::equal(drawn.logits[0], drawn.mean_logits));
  }
}

// The quality row named `name`.
const QualityPrediction& row(const std::vector<QualityPrediction>& rows, const std::string& name) {
  for (const auto& q : rows)
    if (q.name == name) return q;
  throw std::runtime_error("no quality row " + name);
}

TEST(UsamModel, ModelGapAgainstItselfIsZero) {
  support::TempDir dir;
  const auto store = tiny_store(dir.path() + "/store");
  // Official SAM files do not show the decoder's head count and are read as 8 heads.
  ModelConfig config = tiny_usam();
  config.prob.sam.decoder_num_heads = 8;
  torch::manual_seed(5);
  const auto plain = build_model(config, torch::kCPU);
  io::write_pth(dir.path() + "/same.pth",
                io::state_dict(*dynamic_cast<UsamModel&>(*plain).net()->sam));
  config.usam.model_gap_from = dir.path() + "/same.pth";
  torch::manual_seed(5);
  auto model = build_model(config, torch::kCPU);
  EXPECT_TRUE(io::state_dict(model->module()).contains("heads.model_gap.layers.0.weight"));
  auto options = test::tiny_loader_options(true);
  model->prepare_loader(options, true);
  data::Loader loader(store, store->split_indices("train"), options);
  const data::Batch batch = *loader.next();
  const auto loss = model->loss(batch, {}, 0, at::detail::createCPUGenerator(0));
  ASSERT_EQ(loss.terms.size(), 5u);
  EXPECT_EQ(loss.terms[4].first, "mse_model_gap");
  model->module().eval();
  torch::NoGradGuard no_grad;
  data::Loader cases = test_cases(*model, store);
  for (int k = 0; k < 2; ++k) {
    const data::Batch one = *cases.next();
    const auto quality = model->quality(one, store->masks()[one.index[0]]);
    for (double gap : row(quality, "usam.model_gap").actual) EXPECT_EQ(gap, 0.5);  // shifted 0
    const auto scores = model->sample(one, 1, at::detail::createCPUGenerator(0)).scores;
    EXPECT_EQ(scores[4].first, "usam.model_gap");
  }
}

TEST(UsamModel, ModelGapIsTheLargerSamsIouGainOnATallStore) {
  support::TempDir dir;
  // 48 rows x 32 columns: the larger SAM must see the same resized and padded frame.
  test::make_synthetic_store(dir.path() + "/store", 24, 48, 32);
  const auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));

  // A larger SAM, made for 64 px input: wider, deeper, another prompt width.
  sam::SamConfig larger = test::tiny_sam();
  larger.img_size = 64;
  larger.encoder_embed_dim = 24;
  larger.encoder_depth = 3;
  larger.encoder_global_attn_indexes = {2};
  larger.prompt_embed_dim = 32;
  larger.decoder_num_heads = 8;  // as an official file is read
  torch::manual_seed(11);
  const std::string file = dir.path() + "/larger.pth";
  io::write_pth(file, io::state_dict(*sam::build_sam(larger)));

  ModelConfig small = tiny_usam();
  small.usam.model_gap_from = file;
  torch::manual_seed(3);
  auto model = build_model(small, torch::kCPU);
  // The reference: the larger SAM itself as a USAM's SAM at the same 32 px frame, from the
  // same file through model.init_from.
  ModelConfig big = tiny_usam();
  big.prob.sam = larger;
  big.prob.sam.img_size = small.prob.sam.img_size;
  auto reference = build_model(big, torch::kCPU);
  init_from(*reference, file);
  torch::manual_seed(3);
  auto plain = build_model(tiny_usam(), torch::kCPU);

  model->module().eval();
  reference->module().eval();
  plain->module().eval();
  torch::NoGradGuard no_grad;
  data::Loader cases = test_cases(*model, store);
  int64_t gains = 0, losses = 0;
  for (int64_t k = 0; k < static_cast<int64_t>(store->split_indices("test").size()); ++k) {
    const data::Batch one = *cases.next();
    ASSERT_EQ(one.size[0], 48);
    const at::Tensor annotators = store->masks()[one.index[0]];
    const auto q = model->quality(one, annotators);
    const auto& gap = row(q, "usam.model_gap").actual;
    const auto& ours = row(q, "usam.iou").actual;
    const auto theirs = row(reference->quality(one, annotators), "usam.iou").actual;
    // The other heads are those of the same model without a model gap.
    const auto without = row(plain->quality(one, annotators), "usam.iou").actual;
    ASSERT_EQ(gap.size(), 4u);
    for (size_t a = 0; a < gap.size(); ++a) {
      EXPECT_EQ(ours[a], without[a]);
      EXPECT_NEAR(gap[a], std::clamp(theirs[a] - ours[a] + 0.5, 0.0, 1.0), 1e-6)
          << "case " << k << " annotator " << a;
      gains += theirs[a] > ours[a];
      losses += theirs[a] < ours[a];
    }
  }
  // Two random SAMs: the test means something only if the gap takes both signs.
  EXPECT_GT(gains, 0);
  EXPECT_GT(losses, 0);
}

TEST(UsamModel, AMissingLargerSamIsNamed) {
  support::TempDir dir;
  const auto store = tiny_store(dir.path() + "/store");
  ModelConfig config = tiny_usam();
  config.usam.model_gap_from = dir.path() + "/nowhere.pth";
  auto model = build_model(config, torch::kCPU);  // read on first use, not before
  auto options = test::tiny_loader_options(true);
  model->prepare_loader(options, true);
  data::Loader loader(store, store->split_indices("train"), options);
  try {
    model->loss(*loader.next(), {}, 0, at::detail::createCPUGenerator(0));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("model.usam.model_gap_from " + dir.path() + "/nowhere.pth"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace psam::models
