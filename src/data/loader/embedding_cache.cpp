#include "psam/data/loader/embedding_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// The NPY 1.0 header of a C-order little-endian float16 array, padded so the data starts at a
// multiple of 64 bytes as numpy writes it.
std::string npy_header(int64_t count, const std::array<int64_t, 3>& shape) {
  std::string dict = fmt::format("{{'descr': '<f2', 'fortran_order': False, 'shape': ({}, {}, {}, {}), }}",
                                 count, shape[0], shape[1], shape[2]);
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

}  // namespace

// A read-write shared mapping of a whole file.
struct EmbeddingCache::Mapping {
  Mapping(const std::string& path, size_t size) : size(size) {
    const int fd = ::open(path.c_str(), O_RDWR);
    PSAM_CHECK(fd >= 0, fmt::format("embedding cache: cannot open {}: {}", path, std::strerror(errno)));
    struct stat st {};
    const bool sized = ::fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) == size;
    void* p = sized ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    ::close(fd);
    PSAM_CHECK(sized, fmt::format("embedding cache: {} has {} bytes, expected {} (delete the "
                                  "cache directory to rebuild it)",
                                  path, st.st_size, size));
    PSAM_CHECK(p != MAP_FAILED, fmt::format("embedding cache: cannot map {}", path));
    data = static_cast<uint8_t*>(p);
  }
  ~Mapping() { ::munmap(data, size); }
  uint8_t* data = nullptr;
  size_t size;
};

std::string EmbeddingCacheKey::hash() const {
  return sha256_hex(fmt::format("psam embedding cache v1\ndataset {}\nencoder {}\ninput_size "
                                "{}\nintensity {}\n",
                                dataset, encoder, input_size, intensity));
}

std::string tensors_fingerprint(const io::TensorDict& tensors) {
  std::string parts;
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor t = tensor.detach().cpu().contiguous();
    parts += fmt::format("{} {} {} {}\n", name, c10::toString(t.scalar_type()),
                         fmt::join(t.sizes(), "x"),
                         sha256_hex({static_cast<const char*>(t.data_ptr()), t.nbytes()}));
  }
  return sha256_hex(parts);
}

std::string intensity_key(const LoaderOptions& o) {
  std::string key;
  switch (o.intensity) {
    case IntensityMapping::kAuto:
      // auto picks the window for HU stores, so the window matters there.
      key = fmt::format("auto window {} {}", o.window_center, o.window_width);
      break;
    case IntensityMapping::kWindow:
      key = fmt::format("window {} {}", o.window_center, o.window_width);
      break;
    case IntensityMapping::kMinMax:
      key = "minmax";
      break;
  }
  // Other pixel statistics than SAM's change the encoder input too (the defaults add nothing,
  // so caches made before they were configurable stay valid).
  const LoaderOptions defaults;
  if (o.pixel_mean != defaults.pixel_mean || o.pixel_std != defaults.pixel_std) {
    key += fmt::format(" pixels {} {} {} / {} {} {}", o.pixel_mean[0], o.pixel_mean[1],
                       o.pixel_mean[2], o.pixel_std[0], o.pixel_std[1], o.pixel_std[2]);
  }
  return key;
}

EmbeddingCache::EmbeddingCache(const std::string& dir, const EmbeddingCacheKey& key,
                               int64_t count, std::array<int64_t, 3> shape)
    : path_(dir + "/" + key.hash()), count_(count), shape_(shape) {
  PSAM_CHECK(count > 0 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0,
             "embedding cache: count and shape must be positive");
  const std::string header = npy_header(count, shape);
  const size_t rows_size = header.size() + row_elements() * 2 * static_cast<size_t>(count);
  if (!fs::exists(path_ + "/embeddings.npy")) {
    // Built beside its final name and renamed, so another process never sees half a cache.
    const std::string temp = fmt::format("{}.tmp{}", path_, ::getpid());
    fs::remove_all(temp);
    fs::create_directories(temp);
    const nlohmann::json info = {{"dataset", key.dataset},       {"encoder", key.encoder},
                                 {"input_size", key.input_size}, {"intensity", key.intensity},
                                 {"count", count},               {"shape", shape}};
    write_file_atomic(temp + "/key.json", [&](std::ostream& out) { out << info.dump(2) << "\n"; });
    {
      std::ofstream out(temp + "/embeddings.npy", std::ios::binary);
      out << header;
    }
    fs::resize_file(temp + "/embeddings.npy", rows_size);
    {
      std::ofstream out(temp + "/filled.u8", std::ios::binary);
    }
    fs::resize_file(temp + "/filled.u8", static_cast<uintmax_t>(count));
    std::error_code ec;
    fs::rename(temp, path_, ec);
    if (ec) fs::remove_all(temp);  // another process made it first
  }
  rows_ = std::make_unique<Mapping>(path_ + "/embeddings.npy", rows_size);
  PSAM_CHECK(std::memcmp(rows_->data, header.data(), header.size()) == 0,
             fmt::format("embedding cache: {}/embeddings.npy has another shape than [{}, {}]",
                         path_, count, fmt::join(shape, ", ")));
  flags_ = std::make_unique<Mapping>(path_ + "/filled.u8", static_cast<size_t>(count));
}

EmbeddingCache::~EmbeddingCache() = default;

size_t EmbeddingCache::row_elements() const {
  return static_cast<size_t>(shape_[0] * shape_[1] * shape_[2]);
}

uint8_t* EmbeddingCache::row_data(int64_t index) const {
  // The rows end the file; the header before them has the length npy_header() gave.
  const size_t rows_bytes = row_elements() * 2 * static_cast<size_t>(count_);
  return rows_->data + (rows_->size - rows_bytes) + row_elements() * 2 * static_cast<size_t>(index);
}

int64_t EmbeddingCache::filled() const {
  int64_t n = 0;
  for (int64_t i = 0; i < count_; ++i) n += flags_->data[i] != 0;
  return n;
}

bool EmbeddingCache::has(int64_t index) const {
  PSAM_CHECK(index >= 0 && index < count_,
             fmt::format("embedding cache: index {} outside [0, {})", index, count_));
  return flags_->data[index] != 0;
}

at::Tensor EmbeddingCache::get(int64_t index) const {
  PSAM_CHECK(has(index), fmt::format("embedding cache: row {} has not been computed", index));
  uint8_t* data = row_data(index);
  return at::from_blob(data, {shape_[0], shape_[1], shape_[2]}, at::kHalf).to(at::kFloat);
}

void EmbeddingCache::put(int64_t index, const at::Tensor& embedding) {
  PSAM_CHECK(index >= 0 && index < count_,
             fmt::format("embedding cache: index {} outside [0, {})", index, count_));
  PSAM_CHECK(embedding.dim() == 3 && embedding.size(0) == shape_[0] &&
                 embedding.size(1) == shape_[1] && embedding.size(2) == shape_[2],
             fmt::format("embedding cache: row must be [{}], got [{}]", fmt::join(shape_, ", "),
                         fmt::join(embedding.sizes(), ", ")));
  const at::Tensor half = embedding.detach().to(at::kCPU, at::kHalf).contiguous();
  const size_t row = row_elements();
  uint8_t* data = row_data(index);
  std::memcpy(data, half.data_ptr(), row * 2);
  flags_->data[index] = 1;
}

at::Tensor EmbeddingCache::get_or_compute(
    const std::vector<int64_t>& indices,
    const std::function<at::Tensor(const std::vector<int64_t>&)>& embed) {
  std::vector<int64_t> missing;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (!has(indices[i])) missing.push_back(static_cast<int64_t>(i));
  }
  if (!missing.empty()) {
    const at::Tensor computed = embed(missing);
    PSAM_CHECK(computed.dim() == 4 && computed.size(0) == static_cast<int64_t>(missing.size()),
               "embedding cache: embed() must return one row per missing sample");
    for (size_t j = 0; j < missing.size(); ++j) put(indices[missing[j]], computed[j]);
  }
  std::vector<at::Tensor> rows;
  rows.reserve(indices.size());
  for (int64_t index : indices) rows.push_back(get(index));
  return at::stack(rows);
}

}  // namespace psam::data
