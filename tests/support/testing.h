// Test helpers: a temporary directory for fixtures and outputs, and PSAM_PYTHON for
// independent checks (tests skip cleanly when it lacks a module).
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace psam::support {

// A fresh directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "psam_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to path/name (creating subdirectories) and returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::filesystem::path file = std::filesystem::path(path_) / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file.string();
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Whether PSAM_PYTHON (Debian's python3, or the Python of a pip torch) can import the module.
inline bool python_has(const std::string& module) {
  const std::string command = std::string(PSAM_PYTHON) + " -c 'import " + module + "' 2>/dev/null";
  return std::system(command.c_str()) == 0;
}

// Runs `python3 script` and returns its stdout; throws if it fails.
inline std::string run_python(const std::string& script) {
  const std::string command = std::string(PSAM_PYTHON) + " " + script;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  if (::pclose(pipe) != 0) throw std::runtime_error("python failed: " + command + "\n" + out);
  return out;
}

}  // namespace psam::support
