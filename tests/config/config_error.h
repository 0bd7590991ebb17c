// The one-line error a config and its overrides give, for the config tests.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "psam/util/error.h"

namespace psam::config_test {

// The psam::Error message of loading `path` with `overrides`, or "no error".
inline std::string load_error(const std::string& path, const std::vector<std::string>& overrides) {
  try {
    config::load<config::Config>(path, overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace psam::config_test
