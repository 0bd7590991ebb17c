#include "psam/data/loader/embedding_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "psam/util/crc32c.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "psam/util/log.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// Rows whose checksums are verified when a cache is opened (spread over the computed rows).
constexpr int64_t kSampledRows = 8;

constexpr const char* kKeyFile = "/key.json";
constexpr const char* kRowsFile = "/embeddings.npy";
constexpr const char* kFlagsFile = "/filled.u8";
constexpr const char* kCrcFile = "/crc32c.u32";

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

nlohmann::json key_json(const EmbeddingCacheKey& key, int64_t count,
                        const std::array<int64_t, 3>& shape) {
  return {{"dataset", key.dataset},       {"encoder", key.encoder}, {"input_size", key.input_size},
          {"intensity", key.intensity}, {"count", count},         {"shape", shape}};
}

uintmax_t size_or_zero(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

// Why the cache directory `dir` cannot be used as it is, or "" when it can. An intact cache of
// the same key with another count or row shape is an error, not damage.
std::string damage(const std::string& dir, const nlohmann::json& key, const std::string& header,
                   size_t rows_size) {
  std::string key_text;
  try {
    key_text = read_file(dir + kKeyFile);
  } catch (const Error&) {
    return "key.json is missing";
  }
  const auto stored = nlohmann::json::parse(key_text, nullptr, /*allow_exceptions=*/false);
  if (!stored.is_object()) return "key.json is not a JSON object";
  for (const char* part : {"dataset", "encoder", "input_size", "intensity"}) {
    if (!stored.contains(part) || stored[part] != key[part])
      return fmt::format("key.json has another '{}'", part);
  }
  PSAM_CHECK(stored.value("count", nlohmann::json()) == key["count"] &&
                 stored.value("shape", nlohmann::json()) == key["shape"],
             fmt::format("embedding cache: {} holds {} rows of shape {}, expected {} of {} (delete "
                         "it to rebuild it)",
                         dir, stored.value("count", nlohmann::json()).dump(),
                         stored.value("shape", nlohmann::json()).dump(), key["count"].dump(),
                         key["shape"].dump()));
  const auto count = key["count"].get<uintmax_t>();
  if (size_or_zero(dir + kRowsFile) != rows_size)
    return fmt::format("embeddings.npy has {} bytes, expected {}", size_or_zero(dir + kRowsFile),
                       rows_size);
  std::ifstream rows(dir + kRowsFile, std::ios::binary);
  std::string stored_header(header.size(), '\0');
  rows.read(stored_header.data(), static_cast<std::streamsize>(stored_header.size()));
  if (!rows || stored_header != header) return "embeddings.npy has another header";
  if (size_or_zero(dir + kCrcFile) != 4 * count) return "crc32c.u32 has the wrong size";
  if (size_or_zero(dir + kFlagsFile) != count) return "filled.u8 has the wrong size";
  const std::string flags = read_file(dir + kFlagsFile);
  if (flags.find_first_not_of(std::string("\0\1", 2)) != std::string::npos)
    return "filled.u8 holds values other than 0 and 1";
  return "";
}

// A file of `size` bytes starting with `prefix`, its disk space allocated now: writes through a
// shared mapping of a sparse file would crash the process (SIGBUS) when the disk fills.
void create_file(const std::string& path, size_t size, const std::string& prefix = "") {
  const auto failed = [&](int error) {
    fail(fmt::format("embedding cache: cannot create {} ({} bytes): {}", path, size,
                     std::strerror(error)));
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) failed(errno);
  int error = 0;
  if (::write(fd, prefix.data(), prefix.size()) != static_cast<ssize_t>(prefix.size())) {
    error = errno != 0 ? errno : EIO;
  } else if (size > 0) {
    error = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) failed(error);
}

// Builds the cache beside its final name and renames it, so no process sees half a cache and a
// failure (a full disk) leaves nothing behind.
void create(const std::string& path, const nlohmann::json& key, const std::string& header,
            size_t rows_size, int64_t count) {
  const std::string temp = fmt::format("{}.tmp{}", path, ::getpid());
  fs::remove_all(temp);
  fs::create_directories(temp);
  try {
    write_file_atomic(temp + kKeyFile, [&](std::ostream& out) { out << key.dump(2) << "\n"; });
    create_file(temp + kRowsFile, rows_size, header);
    create_file(temp + kFlagsFile, static_cast<size_t>(count));
    create_file(temp + kCrcFile, 4 * static_cast<size_t>(count));
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) fs::remove_all(temp);  // another process made it first
}

// Moves a damaged cache aside before deleting it, so a process opening it meanwhile never sees
// it half-deleted.
void discard(const std::string& path) {
  const std::string aside = fmt::format("{}.damaged{}", path, ::getpid());
  std::error_code ec;
  fs::remove_all(aside, ec);
  fs::rename(path, aside, ec);
  fs::remove_all(ec ? path : aside, ec);
}

}  // namespace

// A read-write shared mapping of a whole file.
struct EmbeddingCache::Mapping {
  Mapping(const std::string& path, size_t size) : size(size) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    PSAM_CHECK(fd >= 0, fmt::format("embedding cache: cannot open {}: {}", path, std::strerror(errno)));
    struct stat st {};
    const bool sized = ::fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) == size;
    void* p = sized ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    ::close(fd);
    PSAM_CHECK(sized, fmt::format("embedding cache: {} has {} bytes, expected {}", path,
                                  st.st_size, size));
    PSAM_CHECK(p != MAP_FAILED, fmt::format("embedding cache: cannot map {}", path));
    data = static_cast<uint8_t*>(p);
  }
  ~Mapping() { ::munmap(data, size); }
  uint8_t* data = nullptr;
  size_t size;
};

std::string EmbeddingCacheKey::hash() const {
  // v2: with per-row checksums.
  return sha256_hex(fmt::format("psam embedding cache v2\ndataset {}\nencoder {}\ninput_size "
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
  const size_t rows_size = header.size() + row_bytes() * static_cast<size_t>(count);
  const nlohmann::json info = key_json(key, count, shape);
  if (fs::exists(path_)) {
    const std::string why = damage(path_, info, header, rows_size);
    if (!why.empty()) {
      log::warn(fmt::format("embedding cache {}: {}; rebuilding it", path_, why));
      discard(path_);
    }
  }
  if (!fs::exists(path_)) create(path_, info, header, rows_size, count);
  map_files();

  // A sample of the computed rows must match their checksums, else the cache is not trusted.
  std::vector<int64_t> computed;
  for (int64_t i = 0; i < count_; ++i) {
    if (has(i)) computed.push_back(i);
  }
  const int64_t n = static_cast<int64_t>(computed.size());
  for (int64_t k = 0; k < std::min(n, kSampledRows); ++k) {
    const int64_t row = computed[static_cast<size_t>(k * n / std::min(n, kSampledRows))];
    if (intact(row)) continue;
    log::warn(fmt::format("embedding cache {}: row {} fails its checksum; rebuilding the cache",
                          path_, row));
    rows_.reset();
    flags_.reset();
    crcs_.reset();
    discard(path_);
    create(path_, info, header, rows_size, count);
    map_files();
    break;
  }
}

EmbeddingCache::~EmbeddingCache() = default;

void EmbeddingCache::map_files() {
  const size_t rows_size = npy_header(count_, shape_).size() + row_bytes() * static_cast<size_t>(count_);
  rows_ = std::make_unique<Mapping>(path_ + kRowsFile, rows_size);
  flags_ = std::make_unique<Mapping>(path_ + kFlagsFile, static_cast<size_t>(count_));
  crcs_ = std::make_unique<Mapping>(path_ + kCrcFile, 4 * static_cast<size_t>(count_));
}

size_t EmbeddingCache::row_bytes() const {
  return static_cast<size_t>(shape_[0] * shape_[1] * shape_[2]) * 2;
}

uint8_t* EmbeddingCache::row_data(int64_t index) const {
  // The rows end the file; the header before them has the length npy_header() gave.
  const size_t all_rows = row_bytes() * static_cast<size_t>(count_);
  return rows_->data + (rows_->size - all_rows) + row_bytes() * static_cast<size_t>(index);
}

uint32_t EmbeddingCache::stored_crc(int64_t index) const {
  const uint8_t* p = crcs_->data + 4 * index;
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

bool EmbeddingCache::intact(int64_t index) const {
  return has(index) && crc32c(row_data(index), row_bytes()) == stored_crc(index);
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

at::Tensor EmbeddingCache::read_row(int64_t index) const {
  return at::from_blob(row_data(index), {shape_[0], shape_[1], shape_[2]}, at::kHalf)
      .to(at::kFloat);
}

at::Tensor EmbeddingCache::get(int64_t index) const {
  PSAM_CHECK(has(index), fmt::format("embedding cache: row {} has not been computed", index));
  PSAM_CHECK(intact(index), fmt::format("embedding cache: row {} of {}{} fails its checksum", index,
                                        path_, kRowsFile));
  return read_row(index);
}

void EmbeddingCache::put(int64_t index, const at::Tensor& embedding) {
  PSAM_CHECK(index >= 0 && index < count_,
             fmt::format("embedding cache: index {} outside [0, {})", index, count_));
  PSAM_CHECK(embedding.dim() == 3 && embedding.size(0) == shape_[0] &&
                 embedding.size(1) == shape_[1] && embedding.size(2) == shape_[2],
             fmt::format("embedding cache: row must be [{}], got [{}]", fmt::join(shape_, ", "),
                         fmt::join(embedding.sizes(), ", ")));
  const at::Tensor half = embedding.detach().to(at::kCPU, at::kHalf).contiguous();
  uint8_t* data = row_data(index);
  std::memcpy(data, half.data_ptr(), row_bytes());
  const uint32_t crc = crc32c(data, row_bytes());
  uint8_t* p = crcs_->data + 4 * index;
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(crc >> (8 * i));
  flags_->data[index] = 1;  // last: a crash before it leaves the row to be computed again
}

at::Tensor EmbeddingCache::get_or_compute(
    const std::vector<int64_t>& indices,
    const std::function<at::Tensor(const std::vector<int64_t>&)>& embed) {
  std::vector<int64_t> missing;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (intact(indices[i])) continue;
    if (has(indices[i]))
      log::warn(fmt::format("embedding cache {}: row {} fails its checksum; computing it again",
                            path_, indices[i]));
    missing.push_back(static_cast<int64_t>(i));
  }
  if (!missing.empty()) {
    const at::Tensor computed = embed(missing);
    PSAM_CHECK(computed.dim() == 4 && computed.size(0) == static_cast<int64_t>(missing.size()),
               "embedding cache: embed() must return one row per missing sample");
    for (size_t j = 0; j < missing.size(); ++j) put(indices[missing[j]], computed[j]);
  }
  std::vector<at::Tensor> rows;
  rows.reserve(indices.size());
  for (int64_t index : indices) rows.push_back(read_row(index));
  return at::stack(rows);
}

}  // namespace psam::data
