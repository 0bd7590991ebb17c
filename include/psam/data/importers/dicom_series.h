// DICOM series on disk: files grouped by SeriesInstanceUID and sorted along the slice normal,
// first as a header-only index (cheap for a whole LIDC-IDRI download), then as a HU volume.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <map>
#include <string>
#include <vector>

namespace psam::data {

struct SeriesSlice {
  std::string path, sop_uid, transfer_syntax;
  double z = 0;         // ImagePositionPatient z (mm), what LIDC XML calls imageZposition
  double location = 0;  // position along the slice normal (mm): the sort key; = z for axial
  int instance_number = 0;
};

struct SeriesIndex {
  std::string series_uid, study_uid, patient_id, modality;
  std::vector<SeriesSlice> slices;  // sorted by location, one per location
  std::array<double, 2> spacing{};  // PixelSpacing of the first slice: row, column (mm)
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  double slice_thickness = 0;  // SliceThickness of the first slice (mm), 0 when absent
  int rows = 0, cols = 0;
  int duplicates = 0;  // files at an already taken location; the lower InstanceNumber was kept

  // Index of the slice with this SOP UID, or -1.
  int find_sop(const std::string& sop_uid) const;
  // Index of the slice whose z is nearest, if within tolerance_mm, else -1.
  int find_z(double z, double tolerance_mm) const;
  // Median gap between consecutive slice locations (mm), 0 with fewer than two slices.
  double slice_spacing() const;
};

struct DicomIndex {
  std::map<std::string, SeriesIndex> series;  // by SeriesInstanceUID
  int files = 0;                              // files that looked like DICOM
  std::vector<std::string> failed;  // "path: reason" for files skipped (unreadable, not images)
};

// Reads the headers of every DICOM file under root (recursively): files with the "DICM"
// preamble or a .dcm extension. Single-frame images only; other files are listed in failed.
DicomIndex index_dicom_tree(const std::string& root);

struct DicomSeries {
  SeriesIndex index;
  at::Tensor hu;  // float32 [Z, rows, cols], in index.slices order
};

// Decodes every slice of an indexed series; psam::Error naming the file if one fails or its
// size differs from the first slice.
DicomSeries load_series(const SeriesIndex& index);

// index_dicom_tree + load_series for each series found under dir, ordered by series UID.
std::vector<DicomSeries> read_series(const std::string& dir);

}  // namespace psam::data
