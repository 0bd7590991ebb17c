#include "fuzz/fuzz_target.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "psam/util/error.h"
#include "psam/util/log.h"
#include "psam/util/threads.h"

namespace psam::fuzz {
namespace fs = std::filesystem;

std::vector<Target>& targets() {
  static std::vector<Target> all;
  return all;
}

const Target* find_target(std::string_view name) {
  for (const Target& t : targets()) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

void run(const Target& t, const uint8_t* data, size_t size) {
  try {
    t.fn(data, size);
  } catch (const Error&) {
    // A refused input: what a hostile file should get.
  }
}

void init() {
  log::set_console_level("off");
  set_num_threads(1);
}

namespace {

// Removes the scratch directory when the process exits normally.
struct Scratch {
  Scratch() {
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : (tmp ? tmp : "/tmp");
    std::string pattern = base + "/psam_fuzz_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string path;
};

}  // namespace

std::string scratch_dir() {
  static Scratch scratch;
  return scratch.path;
}

std::string write_file(const std::string& name, std::string_view bytes) {
  const fs::path path = fs::path(scratch_dir()) / name;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the harness itself failed, not the code under test
  return path.string();
}

std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t max_parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = rest.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

}  // namespace psam::fuzz
