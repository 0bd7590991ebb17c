// Importer for the LIDC-IDRI crops DeepMind published with the Hierarchical Probabilistic U-Net
// (180x180 grey PNG crops around nodules, four readers' masks each):
//
//   ROOT/images/<patient>/z-<z>_c<crop>.png
//   ROOT/gt/<patient>/z-<z>_c<crop>_l<k>.png      k = 0 .. K-1 (K = 4 for LIDC)
//
// or the same below split folders (ROOT/train/images/..., ROOT/val/..., ROOT/test/...), as the
// data is distributed; the folders' split is then kept unless a new one is asked for.
//
// Images are kept as uint8 (intensity "uint8"); masks are non-zero = inside. An optional centre
// crop (180 -> 128 reproduces the common 128x128 benchmark) applies to images and masks alike.
#pragma once

#include <cstdint>
#include <string>

#include "psam/data/store/splits.h"

namespace psam::data {

struct LidcPngImportOptions {
  int64_t crop = 0;               // centre crop side in pixels; 0 keeps the full image
  bool keep_folder_split = true;  // with split folders: they define splits.json
  SplitOptions split;             // otherwise (or without split folders)
  bool overwrite = false;
};

struct LidcPngImportResult {
  int64_t samples = 0, patients = 0, annotators = 0, height = 0, width = 0;
  std::string split;  // how splits.json was made
};

LidcPngImportResult import_lidc_png(const std::string& root, const std::string& out_dir,
                                    const LidcPngImportOptions& options);

}  // namespace psam::data
