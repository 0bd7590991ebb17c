#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_info_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("info", "(under construction)");
  sub->callback([] { fail("psam info: under construction"); });
}

}  // namespace psam::cli
