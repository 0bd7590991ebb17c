// The embedding cache: storage, keys, persistence, numpy compatibility, and the training loss
// with cached embeddings against the encoder's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "psam/data/loader/embedding_cache.h"
#include "psam/io/npy.h"
#include "psam/io/state_dict.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::data {
namespace {

EmbeddingCacheKey sample_key() {
  return {"dataset-fingerprint", "encoder-fingerprint", 32, "window -600 1500"};
}

TEST(EmbeddingCache, StoresFloat16AndPersists) {
  support::TempDir dir;
  const at::Tensor row = torch::randn({4, 2, 3}) * 10;
  {
    EmbeddingCache cache(dir.path(), sample_key(), 5, {4, 2, 3});
    EXPECT_EQ(cache.filled(), 0);
    EXPECT_FALSE(cache.has(2));
    EXPECT_THROW(cache.get(2), Error);
    cache.put(2, row);
    EXPECT_TRUE(cache.has(2));
    EXPECT_TRUE(torch::equal(cache.get(2), row.to(torch::kHalf).to(torch::kFloat)));
    EXPECT_THROW(cache.put(5, row), Error);
    EXPECT_THROW(cache.put(1, torch::zeros({4, 3, 2})), Error);
  }
  // Reopened (another run): the row is there; another shape for the same key is refused.
  EmbeddingCache again(dir.path(), sample_key(), 5, {4, 2, 3});
  EXPECT_EQ(again.filled(), 1);
  EXPECT_TRUE(torch::equal(again.get(2), row.to(torch::kHalf).to(torch::kFloat)));
  EXPECT_THROW(EmbeddingCache(dir.path(), sample_key(), 5, {4, 3, 2}), Error);
  // embeddings.npy is a plain float16 array: psam's own reader (and numpy) open it.
  const at::Tensor all = io::read_npy(again.path() + "/embeddings.npy");
  EXPECT_EQ(all.scalar_type(), torch::kHalf);
  EXPECT_EQ(all.sizes(), (std::vector<int64_t>{5, 4, 2, 3}));
  EXPECT_TRUE(torch::equal(all[2], row.to(torch::kHalf)));
  if (support::python_has("numpy")) {
    const std::string script = dir.write("check.py",
                                         "import numpy as np, sys\n"
                                         "a = np.load(sys.argv[1], mmap_mode='r')\n"
                                         "print(a.dtype, a.shape, float(a[2].astype('f8').sum()))\n");
    std::istringstream out(support::run_python(script + " " + again.path() + "/embeddings.npy"));
    std::string dtype, shape;
    double sum = 0;
    out >> dtype;
    std::getline(out, shape, ')');
    out >> sum;
    EXPECT_EQ(dtype, "float16");
    EXPECT_EQ(shape, " (5, 4, 2, 3");
    EXPECT_NEAR(sum, row.to(torch::kHalf).to(torch::kDouble).sum().item<double>(), 1e-9);
  }
}

TEST(EmbeddingCache, KeyCoversEveryPart) {
  const std::string base = sample_key().hash();
  EXPECT_EQ(base.size(), 64u);
  auto changed = sample_key();
  changed.dataset = "other";
  EXPECT_NE(changed.hash(), base);
  changed = sample_key();
  changed.encoder = "other";
  EXPECT_NE(changed.hash(), base);
  changed = sample_key();
  changed.input_size = 1024;
  EXPECT_NE(changed.hash(), base);
  changed = sample_key();
  changed.intensity = "minmax";
  EXPECT_NE(changed.hash(), base);

  LoaderOptions o;
  const std::string window = intensity_key(o);
  o.window_width = 1000;
  EXPECT_NE(intensity_key(o), window);
  o.intensity = IntensityMapping::kMinMax;
  EXPECT_EQ(intensity_key(o), "minmax");

  io::TensorDict a, b;
  a.insert("w", torch::ones({2}));
  b.insert("w", torch::tensor({1.0f, 1.0f + 1e-6f}));
  EXPECT_NE(tensors_fingerprint(a), tensors_fingerprint(b));
  EXPECT_EQ(tensors_fingerprint(a), tensors_fingerprint(a));
}

// The training loss with cached (float16) embeddings equals the encoder path's within float16
// rounding, and the cache fills on first use.
TEST(EmbeddingCache, CachedLossMatchesEncoder) {
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store");
  auto store = std::make_shared<const DatasetStore>(DatasetStore::open(dir.path() + "/store"));
  Loader loader(store, store->split_indices("train"), test::tiny_loader_options(true));
  torch::manual_seed(3);
  const auto model = models::build_model(test::tiny_model("reference"), torch::kCPU);
  auto& net = static_cast<models::ProbSamModel&>(*model).net();
  const auto cache =
      models::open_embedding_cache(*model, *store, loader.options(), dir.path() + "/cache");
  ASSERT_NE(cache, nullptr);

  int batches = 0;
  while (auto batch = loader.next()) {
    for (int pass = 0; pass < 2; ++pass) {  // first use fills, second reads
      at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(5);
      at::Generator g2 = at::make_generator<at::CPUGeneratorImpl>(5);
      model->set_embedding_cache(cache.get());
      const double a = model->loss(*batch, train::LossConfig{}, 0, g1).total.item<double>();
      model->set_embedding_cache(nullptr);
      const double b = model->loss(*batch, train::LossConfig{}, 0, g2).total.item<double>();
      EXPECT_NEAR(a, b, 2e-3 * std::abs(b)) << "batch " << batches;
      const at::Tensor f = net->embed(batch->image);
      for (size_t r = 0; r < batch->index.size(); ++r) {
        const at::Tensor e = cache->get(batch->index[r]);
        EXPECT_TRUE(torch::equal(e, f[r].to(torch::kHalf).to(torch::kFloat)));
      }
    }
    ++batches;
  }
  EXPECT_EQ(cache->filled(), static_cast<int64_t>(store->split_indices("train").size()));
}

}  // namespace
}  // namespace psam::data
