// The central directory of a zip archive (stored or deflated records, zip64 sizes and offsets),
// read so that what each record claims is checked against the file before libtorch's archive
// reader allocates it: a damaged or hostile directory could otherwise ask for terabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace psam::io {

struct ZipRecord {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed = 0, uncompressed = 0;
  uint64_t local_offset = 0;  // of the record's local header
};

// The records of the archive held in data[0, size); psam::Error "<path>: damaged torch zip
// archive: ..." when the directory is cut short or points outside the file, or a record claims
// more bytes than the file (stored) or deflate (at most 1032:1) can give.
std::vector<ZipRecord> read_zip_directory(const std::string& path, const uint8_t* data,
                                          size_t size);

}  // namespace psam::io
