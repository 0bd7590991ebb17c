#include "psam/util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "psam/util/error.h"

namespace psam {
namespace fs = std::filesystem;

namespace {

std::string temp_name_for(const std::string& path) {
  std::random_device rd;
  return path + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(rd() % 1000000);
}

// fsync so that rename publishes complete contents even across a power loss.
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), temp_(temp_name_for(path_)) {
  const fs::path target(path_);
  PSAM_CHECK(
      !target.has_parent_path() || fs::is_directory(target.parent_path()),
      "cannot write " + path_ + ": directory " + target.parent_path().string() + " does not exist");
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  PSAM_CHECK(out_.good(), "cannot write " + path_ + ": " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ignored;
  fs::remove(temp_, ignored);
}

void AtomicFile::commit() {
  out_.flush();
  PSAM_CHECK(out_.good(), "cannot write " + path_ + ": write failed (disk full?)");
  out_.close();
  PSAM_CHECK(!out_.fail(), "cannot write " + path_ + ": closing failed (disk full?)");
  sync_file(temp_);
  std::error_code ec;
  fs::rename(temp_, path_, ec);
  PSAM_CHECK(!ec, "cannot write " + path_ + ": " + ec.message());
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  AtomicFile file(path);
  write(file.stream());
  file.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PSAM_CHECK(in.good(), "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  PSAM_CHECK(!in.bad(), "cannot read " + path + ": read failed");
  return buffer.str();
}

}  // namespace psam
