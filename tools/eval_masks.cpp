#include <CLI/CLI.hpp>

#include "cli.h"
#include "psam/util/error.h"

namespace psam::cli {

void add_eval_masks_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand("eval-masks", "(under construction)");
  sub->callback([] { fail("psam eval-masks: under construction"); });
}

}  // namespace psam::cli
