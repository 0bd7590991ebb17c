#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_predict_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("predict", "(under construction)");
  sub->callback([] { fail("psam predict: under construction"); });
}

}  // namespace psam::cli
