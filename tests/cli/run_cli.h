// psam's command line called in-process (as main does), with stdout and stderr captured.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli.h"

namespace psam::test {

struct CliResult {
  int rc;
  std::string out;
  std::string err;
};

inline CliResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int rc = cli::run(args, {out, err});
  return {rc, out.str(), err.str()};
}

}  // namespace psam::test
