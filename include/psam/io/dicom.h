// DICOM CT/MR slices through DCMTK. Built without DCMTK, these throw psam::Error saying so.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>

namespace psam::io {

struct DicomSlice {
  at::Tensor hu;  // float32 [rows, cols]: stored value * RescaleSlope + RescaleIntercept
  std::string patient_id, study_uid, series_uid, sop_uid, modality, transfer_syntax;
  std::array<double, 3> position{};                     // ImagePositionPatient (mm)
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};  // ImageOrientationPatient (row, column)
  std::array<double, 2> spacing{};  // PixelSpacing: row spacing, column spacing (mm)
  double slice_thickness = 0;       // mm, 0 when absent
  int instance_number = 0;
  int rows = 0, cols = 0;
  int frames = 0;  // NumberOfFrames (1 when absent); 0 when the file has no PixelData
  double window_center = 0, window_width = 0;  // first WindowCenter/Width, 0 when absent
};

// Reads one file (RLE, JPEG lossless/baseline and uncompressed syntaxes decode; an undecodable
// transfer syntax, such as JPEG 2000 without a codec, is a psam::Error naming the file and the
// syntax). Single-frame greyscale images only.
DicomSlice read_dicom(const std::string& path);

// The same fields without decoding the pixels (hu stays undefined): cheap enough to index
// thousands of files.
DicomSlice read_dicom_header(const std::string& path);

// Whether read_dicom can decode pixels of this transfer syntax UID in this build (uncompressed,
// RLE, JPEG, JPEG-LS; not JPEG 2000).
bool can_decode(const std::string& transfer_syntax_uid);

}  // namespace psam::io
