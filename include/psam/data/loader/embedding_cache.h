// Image embeddings of a frozen encoder, computed once per image and reused by every later
// epoch, run and evaluation. The cache for one (dataset, encoder weights, input size, intensity
// mapping) is a directory named by the SHA-256 of those four:
//
//   <dir>/<key hash>/key.json          the key's parts, for people
//   <dir>/<key hash>/embeddings.npy    float16 [N,C,h,w], one row per store sample (numpy can
//                                      np.load(..., mmap_mode='r') it)
//   <dir>/<key hash>/filled.u8         N bytes: 1 where the row has been computed
//
// Both files are memory-mapped and filled on first use: a row is written before its flag, so
// a crash leaves at worst a row that is computed again. Processes sharing a cache write the same
// values for a row, so concurrent fills are harmless.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "psam/data/loader/loader.h"
#include "psam/io/tensor_dict.h"

namespace psam::data {

struct EmbeddingCacheKey {
  std::string dataset;  // DatasetStore::fingerprint()
  std::string encoder;  // tensors_fingerprint() of the encoder's weights
  int64_t input_size = 0;
  std::string intensity;  // intensity_key() of the loader options

  std::string hash() const;  // SHA-256 hex of the four parts
};

// SHA-256 hex over the names, dtypes, shapes and bytes of the tensors, in order.
std::string tensors_fingerprint(const io::TensorDict& tensors);
// The loader options that change pixel values: the mapping and, for windows, its level/width.
std::string intensity_key(const LoaderOptions& options);

class EmbeddingCache {
 public:
  // Opens the cache for key under dir, creating it (count rows of shape [C,h,w]) when missing;
  // psam::Error when an existing one has another shape.
  EmbeddingCache(const std::string& dir, const EmbeddingCacheKey& key, int64_t count,
                 std::array<int64_t, 3> shape);
  ~EmbeddingCache();
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  const std::string& path() const { return path_; }  // the key's directory
  int64_t count() const { return count_; }
  int64_t filled() const;  // rows computed so far
  bool has(int64_t index) const;

  // Row `index` as float32 [C,h,w] (a copy; the stored values are float16).
  at::Tensor get(int64_t index) const;
  // Stores embedding [C,h,w] (any floating dtype or device) rounded to float16.
  void put(int64_t index, const at::Tensor& embedding);

  // The embeddings of store samples `indices` as float32 [B,C,h,w] on the CPU. Rows not yet
  // cached are computed by embed(rows) (rows: positions in `indices`, returning [rows,C,h,w])
  // and stored first, so first and later uses return the same (float16-rounded) values.
  at::Tensor get_or_compute(const std::vector<int64_t>& indices,
                            const std::function<at::Tensor(const std::vector<int64_t>&)>& embed);

 private:
  struct Mapping;
  size_t row_elements() const;
  uint8_t* row_data(int64_t index) const;

  std::string path_;
  int64_t count_;
  std::array<int64_t, 3> shape_;
  std::unique_ptr<Mapping> rows_, flags_;
};

}  // namespace psam::data
