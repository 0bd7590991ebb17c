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

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const fs::path target(path);
  PSAM_CHECK(!target.has_parent_path() || fs::is_directory(target.parent_path()),
             "cannot write " + path + ": directory " + target.parent_path().string() +
                 " does not exist");
  const std::string tmp = temp_name_for(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      PSAM_CHECK(out.good(), "cannot write " + path + ": " + std::strerror(errno));
      write(out);
      out.flush();
      PSAM_CHECK(out.good(), "cannot write " + path + ": write failed (disk full?)");
    }
    sync_file(tmp);
    std::error_code ec;
    fs::rename(tmp, target, ec);
    PSAM_CHECK(!ec, "cannot write " + path + ": " + ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
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
