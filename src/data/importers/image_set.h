// The writing half of the image-file importers: a list of images with their raters' mask
// files (found by import_folder or import_refuge) read, binarised, cropped, resized and written
// as one store, by the rules of psam/data/importers/image_import.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "psam/data/importers/image_import.h"
#include "psam/data/store/store.h"

namespace psam::data {

// A rater's mask file for an image; `path` names what the file would be when it is absent.
struct MaskFile {
  std::filesystem::path path;
  bool present = true;
};

struct ImageSetEntry {
  std::string id, patient;
  std::filesystem::path image;
  std::vector<MaskFile> masks;  // one per rater, in the report's rater order
  // Masks whose mean's centroid centres the crop window (e.g. the optic disc); none: the
  // image centre.
  std::vector<std::filesystem::path> crop_centre;
  std::string split;                                // the source's own set ("" when it has none)
  nlohmann::json extra = nlohmann::json::object();  // further meta.jsonl fields
};

// A mask file as bool [H,W] by the threshold rule.
at::Tensor read_mask(const std::filesystem::path& path, double threshold);

// Applies options.missing to the entries (absent files are listed in report.missing_masks,
// skipped images in report.skipped; kError throws naming the first), reads and writes the rest
// as a store at out_dir and fills the report's counts and sizes. report.raters must be set. The
// split is the entries' own when keep_split and they have one, else options.split. `name` and
// `provenance` (a JSON object; the report is added to it) go to dataset.json.
void write_image_set(std::vector<ImageSetEntry> entries, const std::string& out_dir,
                     const ImageImportOptions& options, bool keep_split, const std::string& name,
                     nlohmann::json provenance, ImageImportReport& report);

}  // namespace psam::data
