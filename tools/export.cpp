#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_export_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("export", "(under construction)");
  sub->callback([] { fail("psam export: under construction"); });
}

}  // namespace psam::cli
