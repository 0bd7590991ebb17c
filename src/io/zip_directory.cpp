#include "io/zip_directory.h"

#include <fmt/format.h>

#include <cstring>

#include "psam/util/error.h"

namespace psam::io {
namespace {

constexpr uint32_t kEndSignature = 0x06054b50;         // PK\5\6
constexpr uint32_t kZip64EndSignature = 0x06064b50;    // PK\6\6
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;  // PK\6\7
constexpr uint32_t kEntrySignature = 0x02014b50;       // PK\1\2
constexpr size_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56, kEntrySize = 46;
constexpr uint64_t kDeflateMaxRatio = 1032;  // deflate expands at most this much (RFC 1951)

class Reader {
 public:
  Reader(const std::string& path, const uint8_t* data, size_t size)
      : path_(path), data_(data), size_(size) {}

  [[noreturn]] void bad(const std::string& what) const {
    fail(path_ + ": damaged torch zip archive: " + what);
  }
  uint64_t get(uint64_t at, int bytes) const {
    if (at > size_ || static_cast<uint64_t>(bytes) > size_ - at)
      bad(fmt::format("the directory points to byte {} of {}", at, size_));
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | data_[at + i];
    return v;
  }
  size_t size() const { return size_; }
  std::string text(uint64_t at, uint64_t n) const {
    get(at, 0);
    if (n > size_ - at) bad("a record name runs past the end of the file");
    return std::string(reinterpret_cast<const char*>(data_ + at), n);
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
};

// The end-of-central-directory record: the last signature within its comment's reach.
uint64_t find_end(const Reader& r) {
  if (r.size() < kEndSize) r.bad("too short for a zip file");
  const uint64_t lowest = r.size() >= kEndSize + 0xFFFF ? r.size() - kEndSize - 0xFFFF : 0;
  for (uint64_t at = r.size() - kEndSize + 1; at-- > lowest;) {
    if (r.get(at, 4) == kEndSignature) return at;
  }
  r.bad("no end-of-directory record");
}

}  // namespace

std::vector<ZipRecord> read_zip_directory(const std::string& path, const uint8_t* data,
                                          size_t size) {
  const Reader r(path, data, size);
  const uint64_t end = find_end(r);
  uint64_t count = r.get(end + 10, 2);
  uint64_t dir_size = r.get(end + 12, 4);
  uint64_t dir_offset = r.get(end + 16, 4);
  if (count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) {
    if (end < kLocatorSize || r.get(end - kLocatorSize, 4) != kZip64LocatorSignature)
      r.bad("zip64 sizes without a zip64 locator");
    const uint64_t zip64_end = r.get(end - kLocatorSize + 8, 8);
    if (r.get(zip64_end, 4) != kZip64EndSignature) r.bad("no zip64 end-of-directory record");
    r.get(zip64_end, kZip64EndSize);
    count = r.get(zip64_end + 32, 8);
    dir_size = r.get(zip64_end + 40, 8);
    dir_offset = r.get(zip64_end + 48, 8);
  }
  if (dir_offset > size || dir_size > size - dir_offset)
    r.bad(fmt::format("its directory of {} bytes at {} lies outside the {} bytes of the file",
                      dir_size, dir_offset, size));
  if (count > dir_size / kEntrySize)
    r.bad(fmt::format("{} records do not fit in a directory of {} bytes", count, dir_size));

  std::vector<ZipRecord> records;
  records.reserve(count);
  uint64_t at = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (r.get(at, 4) != kEntrySignature) r.bad(fmt::format("record {} has no directory entry", i));
    ZipRecord rec;
    rec.method = static_cast<uint16_t>(r.get(at + 10, 2));
    rec.compressed = r.get(at + 20, 4);
    rec.uncompressed = r.get(at + 24, 4);
    const uint64_t name_size = r.get(at + 28, 2), extra_size = r.get(at + 30, 2);
    const uint64_t comment_size = r.get(at + 32, 2);
    rec.local_offset = r.get(at + 42, 4);
    rec.name = r.text(at + kEntrySize, name_size);
    // Zip64 extra field: 8-byte values for each of the three fields saturated above, in order.
    uint64_t extra = at + kEntrySize + name_size;
    const uint64_t extra_end = extra + extra_size;
    while (extra + 4 <= extra_end) {
      const uint64_t id = r.get(extra, 2), n = r.get(extra + 2, 2);
      uint64_t field = extra + 4;
      if (id == 1) {
        for (uint64_t* value : {&rec.uncompressed, &rec.compressed, &rec.local_offset}) {
          if (*value != 0xFFFFFFFF) continue;
          if (field + 8 > extra + 4 + n) r.bad("record '" + rec.name + "': short zip64 field");
          *value = r.get(field, 8);
          field += 8;
        }
      }
      extra += 4 + n;
    }
    at = extra_end + comment_size;

    const std::string where = "record '" + rec.name + "'";
    if (rec.local_offset > size || rec.compressed > size - rec.local_offset)
      r.bad(fmt::format("{} claims {} bytes at byte {}; the file has {}", where, rec.compressed,
                        rec.local_offset, size));
    if (rec.method == 0 && rec.uncompressed != rec.compressed)
      r.bad(fmt::format("{} is stored uncompressed but claims {} bytes for {} in the file", where,
                        rec.uncompressed, rec.compressed));
    if (rec.method == 8 && rec.uncompressed / kDeflateMaxRatio > rec.compressed)
      r.bad(fmt::format("{} claims {} bytes inflated from {}, more than deflate can give", where,
                        rec.uncompressed, rec.compressed));
    if (rec.method != 0 && rec.method != 8)
      r.bad(fmt::format("{} uses compression method {} (torch archives store records)", where,
                        rec.method));
    records.push_back(std::move(rec));
  }
  return records;
}

}  // namespace psam::io
