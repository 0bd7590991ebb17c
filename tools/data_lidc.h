// `psam data import-lidc` and `psam data lidc-stats`, registered under the `data` command.
#pragma once

#include "cli.h"

namespace psam::cli {

void add_lidc_data_commands(CLI::App& data_cmd, Io io, int& rc);

}  // namespace psam::cli
