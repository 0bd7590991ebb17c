// Image embeddings of a frozen encoder, computed once per image and reused by every later
// epoch, run and evaluation. The cache for one (dataset, encoder weights, input size, intensity
// mapping) is a directory named by the SHA-256 of those four:
//
//   <dir>/<key hash>/key.json          the key's parts, count and row shape
//   <dir>/<key hash>/embeddings.npy    float16 [N,C,h,w], one row per store sample (numpy can
//                                      np.load(..., mmap_mode='r') it)
//   <dir>/<key hash>/filled.u8         N bytes: 1 where the row has been computed
//   <dir>/<key hash>/crc32c.u32        N little-endian CRC-32C values, one per row's bytes
//
// The files are memory-mapped and filled on first use: a row is written before its checksum and
// its flag, so a crash leaves at worst a row that is computed again. Their disk space is
// allocated when the cache is made, so a full disk is an error then, never a crash while writing
// through the mapping. Opening checks key.json, every file's size, the flags and the checksums of
// a sample of rows, and rebuilds a cache that fails (truncated, damaged, half-deleted); every
// read checks its row's checksum and computes a damaged row again. Processes sharing a cache
// write the same values for a row, so concurrent fills are harmless.
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
  // Opens the cache for key under dir, creating it (count rows of shape [C,h,w]) when missing and
  // rebuilding it when damaged; psam::Error when an intact one has another count or shape, or
  // when it cannot be created (e.g. the disk is full).
  EmbeddingCache(const std::string& dir, const EmbeddingCacheKey& key, int64_t count,
                 std::array<int64_t, 3> shape);
  ~EmbeddingCache();
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  const std::string& path() const { return path_; }  // the key's directory
  int64_t count() const { return count_; }
  int64_t filled() const;  // rows computed so far
  bool has(int64_t index) const;

  // Row `index` as float32 [C,h,w] (a copy; the stored values are float16); psam::Error when it
  // has not been computed or fails its checksum.
  at::Tensor get(int64_t index) const;
  // Stores embedding [C,h,w] (any floating dtype or device) rounded to float16.
  void put(int64_t index, const at::Tensor& embedding);

  // The embeddings of store samples `indices` as float32 [B,C,h,w] on the CPU. Rows not yet
  // cached are computed by embed(rows) (rows: positions in `indices`, returning [rows,C,h,w])
  // and stored first, so first and later uses return the same (float16-rounded) values. Rows
  // that fail their checksum are computed again.
  at::Tensor get_or_compute(const std::vector<int64_t>& indices,
                            const std::function<at::Tensor(const std::vector<int64_t>&)>& embed);

 private:
  struct Mapping;
  size_t row_bytes() const;
  uint8_t* row_data(int64_t index) const;
  uint32_t stored_crc(int64_t index) const;
  bool intact(int64_t index) const;  // computed and matching its checksum
  at::Tensor read_row(int64_t index) const;  // float32, unchecked
  void map_files();

  std::string path_;
  int64_t count_;
  std::array<int64_t, 3> shape_;
  std::unique_ptr<Mapping> rows_, flags_, crcs_;
};

}  // namespace psam::data
