// Importer for the LIDC-IDRI pickle of the Probabilistic U-Net PyTorch port (S. Knegt): a Python
// pickle (protocols 2-4) of a dict
//   key -> {'image': float32 [H,W], 'masks': list of K arrays [H,W], 'series_uid': str}
// (H = W = 128, K = 4 for LIDC). It is read by psam's safe unpickler with numpy arrays as views
// of the memory-mapped file where their bytes are aligned (copies otherwise) and written to the
// store entry by entry, so a 1.5 GB pickle needs at most about its own size in memory beyond the
// (reclaimable) page cache, never several copies.
#pragma once

#include <cstdint>
#include <string>

#include "psam/data/store/splits.h"

namespace psam::data {

struct KnegtImportOptions {
  // Image values: "auto" (all in [0,1] -> unit, otherwise Hounsfield-like -> hu, anything else
  // is an error), "unit" or "hu".
  std::string intensity = "auto";
  // Optional TCIA LIDC-IDRI_MetaData.csv ("Patient Id", "Series UID" columns) to map series to
  // patients when the keys do not name the patient (LIDC-IDRI-NNNN).
  std::string metadata_csv;
  SplitOptions split;
  bool overwrite = false;
};

struct KnegtImportResult {
  int64_t samples = 0, patients = 0, annotators = 0, height = 0, width = 0;
  double image_min = 0, image_max = 0;
  std::string intensity;        // what was recorded
  std::string patient_id_from;  // key | metadata | series_uid
};

KnegtImportResult import_knegt(const std::string& pickle_path, const std::string& out_dir,
                               const KnegtImportOptions& options);

}  // namespace psam::data
