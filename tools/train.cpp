#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_train_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("train", "(under construction)");
  sub->callback([] { fail("psam train: under construction"); });
}

}  // namespace psam::cli
