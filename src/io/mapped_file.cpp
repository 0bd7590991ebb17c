#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "psam/util/error.h"

namespace psam::io {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PSAM_CHECK(fd >= 0, "cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const int stat_errno = errno;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("cannot read " + path + ": " +
         (stat_ok ? std::string("not a regular file") : std::strerror(stat_errno)));
  }
  const auto size = static_cast<size_t>(st.st_size);
  // mmap refuses length 0; an empty file needs no mapping.
  void* data = nullptr;
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    PSAM_CHECK(data != MAP_FAILED, "cannot map " + path + ": " + std::strerror(map_errno));
  } else {
    ::close(fd);
  }
  return std::shared_ptr<const MappedFile>(
      new MappedFile(path, static_cast<const uint8_t*>(data), size));
}

MappedFile::~MappedFile() {
  if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace psam::io
