// A read-only memory map of a whole file, shared by the tensors that view it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace psam::io {

class MappedFile {
 public:
  // psam::Error naming the path when it is missing, not a regular file or cannot be mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace psam::io
