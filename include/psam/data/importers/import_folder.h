// Importer for the commonest layout of a multi-rater dataset: a folder of images and, per
// rater, a folder of masks with matching file names:
//
//   ROOT/images/<stem>.<ext>            PNG, JPEG, TIFF or BMP
//   ROOT/masks/<rater>/<stem>.<ext>     one folder per rater
//
// Other layouts are described by two path patterns relative to ROOT, with the placeholders
// {stem} (the image's name without extension; the sample id) and {rater}, and the wildcards *
// and ? inside a path component, e.g. --masks 'gt/{stem}_l{rater}.png' for raters numbered in
// the file name. Pixels, masks, sizes and missing files follow image_import.h; the report says
// what was found: images without masks, masks without images, raters with missing files.
#pragma once

#include <string>
#include <vector>

#include "psam/data/importers/image_import.h"

namespace psam::data {

struct FolderImportOptions : ImageImportOptions {
  std::string images = "images/{stem}.*";
  std::string masks = "masks/{rater}/{stem}.*";
  std::vector<std::string> raters;  // the store's annotators in order; empty: every one found
  // The patient of an image: the first capture group (else the whole match) of this regular
  // expression searched in the stem, for leak-free splits; empty: every image its own patient.
  std::string patient_regex;
};

// `partial`: where a failed import leaves what it found (unmatched files, missing masks), so
// that the caller can show it with the error.
ImageImportReport import_folder(const std::string& root, const std::string& out_dir,
                                const FolderImportOptions& options,
                                ImageImportReport* partial = nullptr);

}  // namespace psam::data
