// Test helpers for the io tests: temporary directories, the golden folder, and running
// PSAM_PYTHON (torch + numpy) to make fixtures and check files, skipping cleanly without it.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/testing.h"

namespace psam::testing {

using support::TempDir;

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// libtorch's own reader of a pickle file (torch::pickle_load), the reference psam's is checked
// against.
inline c10::IValue torch_pickle_load(const std::string& path) {
  const std::string bytes = read_bytes(path);
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
}

// ../shared/golden beside the source tree (or $PSAM_GOLDEN_DIR); "" when absent.
inline std::string golden_dir() {
  const char* env = std::getenv("PSAM_GOLDEN_DIR");
  const std::string dir = env != nullptr ? env : std::string(PSAM_SOURCE_DIR) + "/../shared/golden";
  return std::filesystem::is_directory(dir) ? dir : "";
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `python3 SCRIPT ARGS...` with the script text written to a temporary file; returns the
// exit status, stdout+stderr in *output.
inline int run_python(const std::string& script, const std::vector<std::string>& args = {},
                      std::string* output = nullptr) {
  TempDir dir;
  const std::string file = dir.file("script.py");
  write_bytes(file, script);
  std::string cmd = std::string(PSAM_PYTHON) + " " + shell_quote(file);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
  const int status = ::pclose(pipe);
  if (output != nullptr) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Same dtype, shape and bytes (bitwise, so NaN and -0.0 compare too); strides may differ.
inline ::testing::AssertionResult same_tensor(const at::Tensor& actual,
                                              const at::Tensor& expected) {
  if (actual.scalar_type() != expected.scalar_type())
    return ::testing::AssertionFailure()
           << "dtype " << actual.scalar_type() << " vs " << expected.scalar_type();
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure()
           << "shape " << actual.sizes() << " vs " << expected.sizes();
  const at::Tensor a = actual.contiguous(), b = expected.contiguous();
  if (a.nbytes() > 0 && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) != 0)
    return ::testing::AssertionFailure() << "values differ";
  return ::testing::AssertionSuccess();
}

inline bool python_has_torch() {
  static const bool ok = run_python("import torch, numpy\n") == 0;
  return ok;
}

}  // namespace psam::testing

#define PSAM_REQUIRE_PYTHON()                                                  \
  do {                                                                         \
    if (!::psam::testing::python_has_torch())                                  \
      GTEST_SKIP() << PSAM_PYTHON << " with torch and numpy is not available"; \
  } while (0)

#define PSAM_REQUIRE_GOLDEN()                                                         \
  do {                                                                                \
    if (::psam::testing::golden_dir().empty())                                        \
      GTEST_SKIP() << "../shared/golden is absent (it is not part of a fresh clone)"; \
  } while (0)

// Runs a Python script that must succeed; its output is shown on failure.
#define PSAM_EXPECT_PYTHON(script, ...)                                             \
  do {                                                                              \
    std::string psam_py_out_;                                                       \
    ASSERT_EQ(::psam::testing::run_python(script, {__VA_ARGS__}, &psam_py_out_), 0) \
        << psam_py_out_;                                                            \
  } while (0)
