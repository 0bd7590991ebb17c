// Model::CaseScope: the evaluator's calls for one case share one image encoding. Shown by
// changing the encoder's weights between two calls: inside a scope the second call still gives
// the first call's masks (the embedding was reused), after it the change shows.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/models/registry.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

class CaseScopeTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CaseScopeTest, SamplesOfOneCaseShareTheEncoding) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  const auto store =
      std::make_shared<const data::DatasetStore>(data::DatasetStore::open(dir.path() + "/store"));
  ModelConfig config = test::tiny_model(std::string(GetParam()) == "prob_sam" ? "reference"
                                                                              : "none");
  config.kind = GetParam();
  torch::manual_seed(2);
  auto model = build_model(config, torch::kCPU);
  auto options = test::tiny_loader_options(false);
  model->prepare_loader(options, false);
  options.batch_size = 1;
  data::Loader loader(store, store->split_indices("test"), options);
  const data::Batch batch = *loader.next();
  model->module().eval();
  torch::NoGradGuard no_grad;
  const auto draw = [&] {
    return model->sample(batch, 3, at::detail::createCPUGenerator(5)).logits.clone();
  };
  at::Tensor neck;
  for (const auto& p : model->module().named_parameters())
    if (p.key() == "sam.image_encoder.neck.0.weight") neck = p.value();
  ASSERT_TRUE(neck.defined());

  at::Tensor first, reused;
  {
    Model::CaseScope scope(*model);
    first = draw();
    neck.mul_(-3);
    reused = draw();
  }
  EXPECT_TRUE(torch::equal(first, reused));
  EXPECT_FALSE(torch::equal(first, draw()));  // out of the scope: encoded afresh
}

INSTANTIATE_TEST_SUITE_P(SamMethods, CaseScopeTest,
                         ::testing::Values("prob_sam", "mc_dropout_sam", "adapter_sam", "usam"));

}  // namespace
}  // namespace psam::models
