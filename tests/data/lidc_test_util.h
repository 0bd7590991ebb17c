// Paths to ../shared/realdata for the LIDC and DICOM tests and the extracted XML archive.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/testing.h"

namespace psam::testing {

inline std::string realdata_dir() {
  return (std::filesystem::path(PSAM_SOURCE_DIR) / ".." / "shared" / "realdata")
      .lexically_normal()
      .string();
}

inline std::string lidc_example(const std::string& name) {
  return realdata_dir() + "/lidc_xml_annotations/examples/" + name;
}

// Skips the calling test when ../shared/realdata (or the named file in it) is absent.
#define PSAM_REQUIRE_REALDATA(relative)                                               \
  do {                                                                                \
    if (!std::filesystem::exists(::psam::testing::realdata_dir() + "/" + (relative))) \
      GTEST_SKIP() << "needs ../shared/realdata/" << (relative)                       \
                   << " (not in a fresh clone; present in CI)";                       \
  } while (0)

using support::TempDir;

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The full TCIA XML archive, extracted once per test process (about 0.6 s) into a temporary
// folder removed at exit. Empty when ../shared or tar is not available.
inline std::string lidc_xml_archive() {
  static TempDir dir;
  static const std::string root = [] {
    const std::string tarball =
        realdata_dir() + "/lidc_xml_annotations/LIDC-XML-only_tcia-lidc-xml.tar.xz";
    if (!std::filesystem::exists(tarball)) return std::string();
    const std::string cmd = "tar -xJf '" + tarball + "' -C '" + dir.path() + "'";
    return std::system(cmd.c_str()) == 0 ? dir.path() : std::string();
  }();
  return root;
}

}  // namespace psam::testing
