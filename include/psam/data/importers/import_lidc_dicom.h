// LIDC-IDRI from the raw download (DICOM series + reading-session XML) to 2-D nodule patches
// with one mask per radiologist: for every physical nodule and every slice that at least one
// reader outlined, a crop centred on the nodule, resampled to a fixed in-plane spacing and size.
//
// The import plans first (XML + DICOM headers only: which patches there will be), then decodes
// only the slices the plan needs.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "psam/data/importers/dicom_series.h"
#include "psam/data/importers/lidc_masks.h"
#include "psam/data/importers/lidc_xml.h"

namespace psam::data {

struct LidcImportOptions {
  double patch_spacing_mm = 0.5;  // in-plane spacing of the patches; <= 0 keeps the CT's own
  int patch_size = 128;           // patches are patch_size x patch_size
  int max_readers = 4;            // K, the mask slots of every patch
  MaskOptions masks;
  double outside_hu = -1024;  // patch pixels that fall outside the CT slice
};

struct LidcPatchInfo {
  std::string id;  // unique: <patient>_<series UID tail>_n<nodule>_z<z>
  std::string patient_id, study_uid, series_uid, sop_uid, xml_path;
  double z = 0;              // ImagePositionPatient z of the slice (mm)
  int slice_index = 0;       // in the series sorted along the normal
  int nodule = 0;            // physical nodule number within the series, from 1
  int readers = 0;           // readers who outlined this nodule (on any slice)
  int readers_on_slice = 0;  // non-empty masks of this patch
  // Per mask slot (K entries; "" / 0 where the slot has no reader or the reader drew nothing).
  std::vector<std::string> reader_ids, reader_nodule_ids;
  std::vector<int> malignancy;
  std::array<double, 2> pixel_spacing{};  // of the CT (mm): row, column
  double slice_thickness = 0;
  double patch_spacing = 0;     // of the patch (mm)
  std::array<int, 2> centre{};  // CT pixel (row, column) at patch pixel (size/2, size/2)
};

struct LidcPatch {
  at::Tensor image;  // float32 [S, S], HU
  at::Tensor masks;  // uint8 [K, S, S], 1 inside
  LidcPatchInfo info;
};

struct LidcImportReport {
  int xml_reads = 0;                        // CT reads (one per series)
  int series_found = 0;                     // of those, with the DICOM series present
  std::vector<std::string> missing_series;  // series UIDs with XML but no DICOM
  int nodules = 0;                          // physical nodules of the found series
  int dropped_readers = 0;
  std::int64_t rois_by_sop = 0, rois_by_z = 0, rois_unmatched = 0;
  std::vector<std::string> undecodable;  // slices skipped: transfer syntax without a decoder
};

class LidcImporter {
 public:
  LidcImporter(std::vector<LidcXml> reads, DicomIndex dicom, LidcImportOptions options = {});
  ~LidcImporter();
  LidcImporter(const LidcImporter&) = delete;
  LidcImporter& operator=(const LidcImporter&) = delete;

  // Patches the run will produce.
  std::int64_t planned() const;
  const LidcImportReport& report() const;
  const LidcImportOptions& options() const { return options_; }

  // Decodes the planned slices series by series and hands each patch to sink, in plan order
  // (series by UID, then nodule, then slice). A slice that fails to decode is a psam::Error.
  void run(const std::function<void(LidcPatch&&)>& sink) const;

 private:
  struct Plan;
  LidcImportOptions options_;
  std::unique_ptr<Plan> plan_;
};

// Resamples src [C, h, w] (pixel (0, 0) of src is CT pixel (row0, col0)) to [C, size, size]:
// patch pixel (i, j) samples CT position (centre_row + (i - size/2) * step_row,
// centre_col + (j - size/2) * step_col) bilinearly; outside src gives `outside`.
at::Tensor resample_patch(const at::Tensor& src, int row0, int col0, std::array<double, 2> centre,
                          std::array<double, 2> step, int size, double outside);

}  // namespace psam::data
