// Number checks for CLI11 options with a message a user reads: "must be > 0, got 0" (CLI11's
// own range checks print the limits of a double).
#pragma once

#include <CLI/CLI.hpp>

namespace psam::cli {

CLI::Validator positive();      // a number > 0
CLI::Validator non_negative();  // a number >= 0

}  // namespace psam::cli
