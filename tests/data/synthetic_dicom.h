// Writes small CT DICOM files with DCMTK for the series and importer tests: known UIDs,
// positions and stored values, optionally RLE-compressed.
#pragma once

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace psam::testing {

struct SyntheticCtSlice {
  std::string patient_id = "SYNTH-0001";
  std::string study_uid = "1.2.826.0.1.3680043.2.1125.1";
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.2";
  std::string sop_uid;
  double x0 = -100, y0 = -120, z = 0;  // ImagePositionPatient
  double row_spacing = 0.7, col_spacing = 0.7, slice_thickness = 2.5;
  double slope = 1, intercept = -1024;
  int instance_number = 1;
  at::Tensor stored;  // int16 [rows, cols]
};

inline void write_ct_slice(const std::string& path, const SyntheticCtSlice& s, bool rle = false) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  const auto str = [&](const DcmTagKey& tag, const std::string& v) {
    if (ds->putAndInsertString(tag, v.c_str()).bad()) throw std::runtime_error("DICOM put failed");
  };
  const auto u16 = [&](const DcmTagKey& tag, int v) {
    if (ds->putAndInsertUint16(tag, static_cast<Uint16>(v)).bad())
      throw std::runtime_error("DICOM put failed");
  };
  str(DCM_SOPClassUID, UID_CTImageStorage);
  str(DCM_SOPInstanceUID, s.sop_uid);
  str(DCM_StudyInstanceUID, s.study_uid);
  str(DCM_SeriesInstanceUID, s.series_uid);
  str(DCM_PatientID, s.patient_id);
  str(DCM_Modality, "CT");
  str(DCM_InstanceNumber, std::to_string(s.instance_number));
  str(DCM_ImagePositionPatient, fmt::format("{}\\{}\\{}", s.x0, s.y0, s.z));
  str(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  str(DCM_PixelSpacing, fmt::format("{}\\{}", s.row_spacing, s.col_spacing));
  str(DCM_SliceThickness, fmt::format("{}", s.slice_thickness));
  str(DCM_RescaleSlope, fmt::format("{}", s.slope));
  str(DCM_RescaleIntercept, fmt::format("{}", s.intercept));
  str(DCM_PhotometricInterpretation, "MONOCHROME2");
  u16(DCM_SamplesPerPixel, 1);
  u16(DCM_Rows, static_cast<int>(s.stored.size(0)));
  u16(DCM_Columns, static_cast<int>(s.stored.size(1)));
  u16(DCM_BitsAllocated, 16);
  u16(DCM_BitsStored, 16);
  u16(DCM_HighBit, 15);
  u16(DCM_PixelRepresentation, 1);
  const auto pixels = s.stored.to(torch::kInt16).contiguous();
  if (ds->putAndInsertUint16Array(DCM_PixelData,
                                  reinterpret_cast<const Uint16*>(pixels.data_ptr<int16_t>()),
                                  static_cast<unsigned long>(pixels.numel()))
          .bad())
    throw std::runtime_error("DICOM put PixelData failed");
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  if (rle) {
    DcmRLEEncoderRegistration::registerCodecs();
    xfer = EXS_RLELossless;
    if (ds->chooseRepresentation(xfer, nullptr).bad())
      throw std::runtime_error("RLE encoding failed");
  }
  if (file.saveFile(path.c_str(), xfer).bad()) throw std::runtime_error("cannot write " + path);
}

}  // namespace psam::testing
