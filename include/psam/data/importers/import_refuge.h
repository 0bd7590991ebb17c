// Importer for REFUGE2 multi-rater (the optic cup and disc of 1,200 REFUGE fundus photographs,
// each outlined by 7 raters), in the layout the UA-SAM and Medical SAM Adapter loaders read:
//
//   ROOT/Training-400/<case>/<case>.jpg
//   ROOT/Training-400/<case>/<case>_seg_cup_<k>.png    k = 1 .. K (K = 7)
//   ROOT/Training-400/<case>/<case>_seg_disc_<k>.png
//   ROOT/Validation-400/...   ROOT/Test-400/...         (the sets present; the split is kept)
//
// The store holds one structure per rater (the cup by default, or the disc). The crop of the
// options is a window around the optic disc centre: the centroid of the mean of the raters'
// disc masks (the "crop around the disc, resize to 512" preprocessing is --crop SIDE
// --resize 512). Ids and patients are <set folder>/<case>.
#pragma once

#include <string>

#include "psam/data/importers/image_import.h"

namespace psam::data {

struct RefugeImportOptions : ImageImportOptions {
  std::string target = "cup";     // cup | disc: the structure the store's masks outline
  bool keep_folder_split = true;  // the set folders define splits.json (else options.split)
};

ImageImportReport import_refuge(const std::string& root, const std::string& out_dir,
                                const RefugeImportOptions& options);

}  // namespace psam::data
