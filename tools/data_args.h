// Options shared by the `psam data` sub-subcommands that write a dataset store.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "psam/data/importers/image_import.h"
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

// --threshold / --missing-mask / --crop / --resize of the image-file importers.
struct ImageImportArgs {
  double threshold = 0.5;
  std::string missing = "skip";
  std::string crop, resize;

  void add_to(CLI::App* cmd, const std::string& crop_help) {
    cmd->add_option("--threshold", threshold,
                    "masks: inside above this share of the file's full scale (0.5: > 127 of 255)")
        ->capture_default_str();
    cmd->add_option("--missing-mask", missing,
                    "an image some rater has no mask for: skip it, use an empty mask, or error")
        ->check(CLI::IsMember({"skip", "empty", "error"}))
        ->capture_default_str();
    cmd->add_option("--crop", crop, crop_help);
    cmd->add_option("--resize", resize, "resize every image (and mask) to HxW, or SxS for S");
  }

  // Fills the image options of `o` and the output's split and --force (throws psam::Error on a
  // malformed size).
  void apply(const StoreOutput& output, data::ImageImportOptions& o) const;
};

}  // namespace psam::cli
