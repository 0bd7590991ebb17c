// LIDC-IDRI from the raw download into a dataset store: LidcImporter's patches (HU images
// [N,S,S], masks [N,K,S,S]) written with DatasetWriter, one meta.jsonl line per patch with its
// patient, series, slice, nodule and reader ids, the options and import report as provenance,
// and a split (by patient unless asked otherwise).
#pragma once

#include <cstdint>
#include <string>

#include "psam/data/importers/import_lidc_dicom.h"
#include "psam/data/store/splits.h"

namespace psam::data {

struct LidcStoreImportOptions {
  LidcImportOptions patches;
  SplitOptions split;
  bool overwrite = false;
};

struct LidcStoreImportResult {
  LidcImportReport report;
  int64_t samples = 0, patients = 0;
  int64_t empty_masks = 0;  // reader slots with nothing drawn, over all patches
};

// Reads every XML read under xml_root and every DICOM file under dicom_root, then writes the
// store at out_dir (nothing is left there if anything fails).
LidcStoreImportResult import_lidc_store(const std::string& dicom_root, const std::string& xml_root,
                                        const std::string& out_dir,
                                        const LidcStoreImportOptions& options);

}  // namespace psam::data
