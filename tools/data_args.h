// Options shared by the `psam data` sub-subcommands that write a dataset store.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "psam/data/store/splits.h"

namespace psam::cli {

// --split-by / --split-seed / --fractions, shared by every command that writes a store.
struct SplitArgs {
  std::string by = "patient";
  uint64_t seed = 0;
  std::string fractions = "0.6,0.2,0.2";
  std::string names = "train,val,test";

  void add_to(CLI::App* cmd) {
    cmd->add_option("--split-by", by, "split unit: patient (default) or image (leaks patients)")
        ->check(CLI::IsMember({"patient", "image"}));
    cmd->add_option("--split-seed", seed, "seed of the split");
    cmd->add_option("--fractions", fractions, "shares of the sets, comma separated");
    cmd->add_option("--split-names", names, "names of the sets, comma separated");
  }

  data::SplitOptions options() const;  // throws psam::Error on malformed lists
};

// OUT, --force and the split options of every command that writes a store.
struct StoreOutput {
  std::string dir;
  bool force = false;
  SplitArgs split;

  void add_to(CLI::App* cmd) {
    cmd->add_option("OUT", dir, "output store directory (must not exist)")->required();
    cmd->add_flag("--force", force, "replace OUT if it exists");
    split.add_to(cmd);
  }
};

}  // namespace psam::cli
