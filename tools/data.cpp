#include <CLI/CLI.hpp>

#include "cli.h"
#include "data_lidc.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_data_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("data", "(under construction)");
  sub->require_subcommand(1);
  add_lidc_data_commands(*sub, io, rc);
}

}  // namespace psam::cli
