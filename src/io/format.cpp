#include "psam/io/format.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "psam/util/error.h"

namespace psam::io {

FileFormat detect_format(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  PSAM_CHECK(std::filesystem::exists(status), "cannot read " + path + ": no such file");
  PSAM_CHECK(std::filesystem::is_regular_file(status),
             "cannot read " + path + ": not a regular file");
  std::array<char, 16> head{};
  std::ifstream in(path, std::ios::binary);
  PSAM_CHECK(in.good(), "cannot read " + path);
  in.read(head.data(), head.size());
  const auto n = static_cast<size_t>(in.gcount());
  auto starts_with = [&](const char* magic, size_t len) {
    return n >= len && std::memcmp(head.data(), magic, len) == 0;
  };
  // torch.save's legacy format opens with a pickled magic number, 0x1950a86a20f9469cfc6c.
  static const char kLegacyMagic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  if (starts_with("PK\x03\x04", 4)) return FileFormat::kTorchZip;
  if (starts_with(kLegacyMagic, sizeof kLegacyMagic - 1)) return FileFormat::kTorchLegacy;
  if (starts_with("\x93NUMPY", 6)) return FileFormat::kNpy;
  // An 8-byte little-endian header length that fits the file, then the JSON header. Checked
  // before pickles: a header of 128 + 256 k bytes starts with 0x80, the pickle PROTO opcode.
  if (n >= 9 && head[8] == '{') {
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(head[i]);
    if (header_size <= std::filesystem::file_size(path, ec) - 8) return FileFormat::kSafetensors;
  }
  if (n >= 1 && static_cast<unsigned char>(head[0]) == 0x80) return FileFormat::kPickle;
  return FileFormat::kUnknown;
}

const char* format_name(FileFormat format) {
  switch (format) {
    case FileFormat::kTorchZip:
      return "torch zip archive";
    case FileFormat::kTorchLegacy:
      return "legacy torch.save file";
    case FileFormat::kPickle:
      return "Python pickle";
    case FileFormat::kSafetensors:
      return "safetensors";
    case FileFormat::kNpy:
      return "npy";
    case FileFormat::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace psam::io
