// Helpers for the data-layer tests: scratch directories, the shared reference folders, Python.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include "cli.h"

namespace psam::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("psam_data_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ../shared beside the source tree (present in CI, absent in a user's fresh clone).
inline std::filesystem::path shared_dir() {
  return std::filesystem::path(PSAM_SOURCE_DIR) / ".." / "shared";
}

inline std::filesystem::path golden_file(const std::string& stem) {
  const char* dir = std::getenv("PSAM_GOLDEN_DIR");
  const char* name = std::getenv("PSAM_GOLDEN_NAME");
  const std::filesystem::path root = dir ? std::filesystem::path(dir) : shared_dir() / "golden";
  return root / (stem + "_" + (name ? name : "tiny") + ".pth");
}

// True when /usr/bin/python3 imports every module in `modules` (space separated).
inline bool python_has(const std::string& modules) {
  std::string imports;
  std::istringstream in(modules);
  for (std::string m; in >> m;) imports += "import " + m + ";";
  const std::string cmd = std::string(PSAM_PYTHON) + " -c '" + imports + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Runs a Python script file with arguments; returns its exit status.
inline int run_python(const std::string& script_path, const std::string& args = "") {
  const std::string cmd = std::string(PSAM_PYTHON) + " " + script_path + " " + args;
  return std::system(cmd.c_str());
}

struct CliResult {
  int rc;
  std::string out, err;
};

inline CliResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int rc = psam::cli::run(args, {out, err});
  return {rc, out.str(), err.str()};
}

}  // namespace psam::test
