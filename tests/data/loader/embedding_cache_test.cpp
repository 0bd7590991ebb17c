// The embedding cache: storage, keys, persistence, numpy compatibility, and the training loss
// with cached embeddings against the encoder's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "psam/data/loader/embedding_cache.h"
#include "psam/io/npy.h"
#include "psam/io/state_dict.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::data {
namespace {
namespace fs = std::filesystem;

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

// Flips one byte of a file of the cache.
void flip_byte(const std::string& path, std::streamoff at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  const char c = static_cast<char>(f.get());
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x5A));
}

// A cache that was cut short, half deleted or damaged is rebuilt (or its damaged rows computed
// again), never read as embeddings.
TEST(EmbeddingCache, DamagedCachesAreRebuilt) {
  support::TempDir dir;
  const at::Tensor row = torch::randn({4, 2, 3});
  const at::Tensor half = row.to(torch::kHalf).to(torch::kFloat);
  std::string path;
  const auto fill = [&] {
    EmbeddingCache cache(dir.path(), sample_key(), 5, {4, 2, 3});
    for (int64_t i = 0; i < 5; ++i) cache.put(i, row * static_cast<double>(i + 1));
    path = cache.path();
  };
  fill();
  const std::streamoff row_bytes = 4 * 2 * 3 * 2;  // float16
  const auto rows_start =
      static_cast<std::streamoff>(fs::file_size(path + "/embeddings.npy")) - 5 * row_bytes;

  // Truncated rows file, missing flags, a rewritten key.json: rebuilt empty.
  for (const std::string damage : {"truncate", "flags", "key"}) {
    SCOPED_TRACE(damage);
    fill();
    if (damage == "truncate") fs::resize_file(path + "/embeddings.npy", rows_start + row_bytes);
    if (damage == "flags") fs::remove(path + "/filled.u8");
    if (damage == "key") write_file_atomic(path + "/key.json", [](std::ostream& o) { o << "{"; });
    EmbeddingCache cache(dir.path(), sample_key(), 5, {4, 2, 3});
    EXPECT_EQ(cache.filled(), 0);
    cache.put(1, row);
    EXPECT_TRUE(torch::equal(cache.get(1), half));
  }

  // A damaged row among the sampled ones: the whole cache is rebuilt on opening.
  fill();
  flip_byte(path + "/embeddings.npy", rows_start + 3 * row_bytes + 5);
  {
    EmbeddingCache cache(dir.path(), sample_key(), 5, {4, 2, 3});
    EXPECT_EQ(cache.filled(), 0);
  }

  // A row damaged while the cache is open: get() refuses it, get_or_compute() computes it again.
  fill();
  EmbeddingCache cache(dir.path(), sample_key(), 5, {4, 2, 3});
  EXPECT_EQ(cache.filled(), 5);
  flip_byte(path + "/embeddings.npy", rows_start + 2 * row_bytes);
  EXPECT_THROW(cache.get(2), Error);
  std::vector<int64_t> recomputed;
  const at::Tensor got = cache.get_or_compute({1, 2}, [&](const std::vector<int64_t>& rows) {
    recomputed = rows;
    return (row * 3.0).unsqueeze(0);
  });
  EXPECT_EQ(recomputed, (std::vector<int64_t>{1}));  // position of index 2 in the request
  EXPECT_TRUE(torch::equal(got[0], (row * 2.0).to(torch::kHalf).to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(got[1], (row * 3.0).to(torch::kHalf).to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(cache.get(2), got[1]));
}

// Creating a cache on a full disk (a file-size limit below the rows file): an error naming the
// file, and no cache directory or temporary left behind.
TEST(EmbeddingCache, FullDiskAtCreationLeavesNothing) {
  support::TempDir dir;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string message;
  try {
    EmbeddingCache cache(dir.path(), sample_key(), 64, {16, 4, 4});  // 32 KB of rows
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, previous);
  EXPECT_NE(message.find("embedding cache: cannot create "), std::string::npos) << message;
  EXPECT_NE(message.find("/embeddings.npy ("), std::string::npos) << message;
  EXPECT_NE(message.find("bytes): File too large"), std::string::npos) << message;
  EXPECT_TRUE(fs::is_empty(dir.path())) << "left behind in " << dir.path();
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
      // Bit equality: the first pass encoded the rows as this same batch (every row missing).
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
