#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_data_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("data", "(under construction)");
  sub->callback([] { fail("psam data: under construction"); });
}

}  // namespace psam::cli
