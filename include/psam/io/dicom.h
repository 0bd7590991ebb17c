// DICOM CT/MR slices through DCMTK. Built without DCMTK, these throw psam::Error saying so.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>

namespace psam::io {

struct DicomSlice {
  at::Tensor hu;  // float32 [rows, cols]: stored value * RescaleSlope + RescaleIntercept
  std::string patient_id, study_uid, series_uid, sop_uid, modality, transfer_syntax;
  std::array<double, 3> position{};    // ImagePositionPatient (mm)
  std::array<double, 2> spacing{};     // PixelSpacing: row spacing, column spacing (mm)
  double slice_thickness = 0;          // mm, 0 when absent
  int instance_number = 0;
  double window_center = 0, window_width = 0;  // first WindowCenter/Width, 0 when absent
};

// Reads one file (RLE and uncompressed syntaxes decode; an undecodable transfer syntax, such as
// JPEG 2000 without a codec, is a psam::Error naming the file and the syntax).
DicomSlice read_dicom(const std::string& path);

}  // namespace psam::io
