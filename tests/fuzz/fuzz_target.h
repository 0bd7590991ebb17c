// Fuzz targets: one function per input format, each feeding its bytes to the library entry point
// the command line uses. The same functions run under libFuzzer (tests/fuzz/fuzz_main.cpp, built
// with -DPSAM_FUZZ=ON) and, over the committed regression inputs, in the normal test binaries
// (tests/fuzz/fuzz_regression_test.cpp), so every input that ever crashed stays a test.
//
// A target returns normally when the input was read or refused with a psam::Error; anything else
// (another exception type, a crash, a sanitizer report, a hang) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace psam::fuzz {

using TargetFn = void (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;
  TargetFn fn;
};

// Every target linked into this program, in registration order.
std::vector<Target>& targets();
const Target* find_target(std::string_view name);

struct Registration {
  Registration(const char* name, TargetFn fn) { targets().push_back({name, fn}); }
};

// Runs target `t` on one input: a psam::Error is the expected outcome of a bad input and is
// swallowed; every other exception propagates (libFuzzer reports it as a crash).
void run(const Target& t, const uint8_t* data, size_t size);

// Quiet, single-threaded set-up shared by fuzzers and regression tests.
void init();

// Files for entry points that take paths: a directory of this process under /dev/shm (or
// $TMPDIR), removed at exit. write() replaces the file's contents and returns its path.
std::string scratch_dir();
std::string write_file(const std::string& name, std::string_view bytes);

// Multi-file inputs (a config and its bases, a store's JSON files): the parts between lines
// "@@@@", at most max_parts (the last part keeps any further separators).
inline constexpr std::string_view kPartSeparator = "\n@@@@\n";
std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t max_parts);

}  // namespace psam::fuzz

// Defines and registers a target: PSAM_FUZZ_TARGET(npy) { ... data, size ... }
#define PSAM_FUZZ_TARGET(name)                                                          \
  static void psam_fuzz_target_##name(const uint8_t* data, size_t size);               \
  static const ::psam::fuzz::Registration psam_fuzz_registration_##name(               \
      #name, psam_fuzz_target_##name);                                                  \
  static void psam_fuzz_target_##name(const uint8_t* data, size_t size)
