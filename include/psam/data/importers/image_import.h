// What the image-file importers (import_folder.h: any folder of images and per-rater masks;
// import_refuge.h: REFUGE2 multi-rater) share: how mask files become binary masks, how images
// of different sizes are handled, what a missing mask file means, and the report of what was
// found.
//
// Files: PNG, JPEG, TIFF or BMP (io::read_image), grey, RGB or RGBA (alpha dropped), 8 or 16
// bit. The first image decides the store: 8-bit images give uint8 pixels (intensity "uint8"),
// 16-bit ones float32 values / 65535 (intensity "unit"); grey or RGB as the first image is (a
// grey image in an RGB set is replicated, an RGB image whose channels are equal joins a grey
// set, other mixes are errors naming the file).
//
// Masks: a pixel is inside when its value is above `threshold` of the file's full scale (255 for
// 8-bit, 65535 for 16-bit files; the default 0.5 puts the cut at 127.5, so JPEG noise around 0
// and 255 falls on the right side); colour masks: any channel above it. A mask whose values
// are all 0 or 1 (a label map) is read as non-zero = inside.
//
// Geometry, in this order: `crop` (a window of that size around the image centre, or around a
// reference structure where the importer has one), then `resize` (bilinear with antialiasing
// for images; masks resampled the same way as 0/1 values and kept where >= 0.5). Without
// `resize`, every image must have the size of the first one after cropping (else an error
// naming the file). Masks must have the size of their image.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "psam/data/store/splits.h"
#include "psam/util/names.h"

namespace psam::data {

struct ImageSize {
  int64_t height = 0, width = 0;
};

// An image for which some rater has no mask file.
enum class MissingMask {
  kSkip,   // leave the image out (reported)
  kEmpty,  // the rater marked nothing: an empty mask (datasets that omit empty masks)
  kError,  // refuse the import, naming the file
};
inline constexpr NameTable<MissingMask, 3> kMissingMaskNames = {{
    {MissingMask::kSkip, "skip"},
    {MissingMask::kEmpty, "empty"},
    {MissingMask::kError, "error"},
}};
constexpr const auto& enum_names(MissingMask) { return kMissingMaskNames; }

struct ImageImportOptions {
  double threshold = 0.5;  // of the mask file's full scale; in [0, 1)
  MissingMask missing = MissingMask::kSkip;
  std::optional<ImageSize> crop;
  std::optional<ImageSize> resize;
  SplitOptions split;  // when the source has no split of its own (or it is not kept)
  bool overwrite = false;
};

struct ImageImportReport {
  int64_t samples = 0, patients = 0, height = 0, width = 0, channels = 0;
  int bits = 8;                     // of the images (8 -> uint8 store, 16 -> unit floats)
  std::vector<std::string> raters;  // annotator k of the store is raters[k]
  std::vector<std::string> images_without_masks;  // image files no rater has a mask for
  std::vector<std::string> masks_without_images;  // mask files whose image is not there
  std::vector<std::string> missing_masks;         // "<rater>: <image>" for every absent mask file
  std::vector<std::string> skipped;               // images left out, each with the reason
  std::vector<std::string> unsupported;  // files matching a pattern in a format psam cannot read
  std::map<std::string, int64_t> source_sizes;    // "HxW" of the source images -> count
  std::string split;                              // how splits.json was made
};

// The report as JSON text (dataset.json's provenance keeps it) and as printable lines.
std::string report_json(const ImageImportReport& report);
std::vector<std::string> report_lines(const ImageImportReport& report);
// The lists alone (files without a partner, missing masks, skipped and unreadable files): what a
// failed import found.
std::vector<std::string> found_lines(const ImageImportReport& report);

}  // namespace psam::data
