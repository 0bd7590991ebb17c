#include "psam/io/dicom.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "psam/util/error.h"

#ifdef PSAM_HAVE_DCMTK
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <mutex>
#endif

namespace psam::io {

#ifdef PSAM_HAVE_DCMTK
namespace {

// Decoders are process-wide in DCMTK; registering twice is harmless but not thread-safe.
void init_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK logs every oddity of a file to stderr (tens of thousands of lines for some); psam
    // reports what matters itself.
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
  });
}

std::string get_string(DcmDataset& ds, const DcmTagKey& tag) {
  OFString v;
  return ds.findAndGetOFString(tag, v).good() ? std::string(v.c_str()) : std::string();
}

double get_double(DcmDataset& ds, const DcmTagKey& tag, double fallback, unsigned long pos = 0) {
  Float64 v = 0;
  return ds.findAndGetFloat64(tag, v, pos).good() ? v : fallback;
}

// Integer elements come as IS (InstanceNumber, NumberOfFrames) or US (Rows, BitsAllocated).
int get_int(DcmDataset& ds, const DcmTagKey& tag, int fallback) {
  Sint32 v = 0;
  if (ds.findAndGetSint32(tag, v).good()) return static_cast<int>(v);
  Uint16 u = 0;
  if (ds.findAndGetUint16(tag, u).good()) return static_cast<int>(u);
  return fallback;
}

void load(DcmFileFormat& file, const std::string& path, bool pixels) {
  init_dcmtk();
  // Without pixels, large elements (PixelData) stay on disk: only the header is parsed.
  const Uint32 max_read = pixels ? DCM_MaxReadLength : 4096;
  const OFCondition st = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, max_read);
  PSAM_CHECK(st.good(), fmt::format("DICOM {}: cannot read: {}", path, st.text()));
}

DicomSlice header_of(DcmDataset& ds, const std::string& path) {
  DicomSlice s;
  s.patient_id = get_string(ds, DCM_PatientID);
  s.study_uid = get_string(ds, DCM_StudyInstanceUID);
  s.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  s.sop_uid = get_string(ds, DCM_SOPInstanceUID);
  s.modality = get_string(ds, DCM_Modality);
  s.transfer_syntax = DcmXfer(ds.getOriginalXfer()).getXferID();
  for (unsigned long i = 0; i < 3; ++i)
    s.position[i] = get_double(ds, DCM_ImagePositionPatient, 0, i);
  if (ds.tagExistsWithValue(DCM_ImageOrientationPatient)) {
    for (unsigned long i = 0; i < 6; ++i)
      s.orientation[i] = get_double(ds, DCM_ImageOrientationPatient, s.orientation[i], i);
  }
  s.spacing[0] = get_double(ds, DCM_PixelSpacing, 0, 0);
  s.spacing[1] = get_double(ds, DCM_PixelSpacing, s.spacing[0], 1);
  s.slice_thickness = get_double(ds, DCM_SliceThickness, 0);
  s.instance_number = get_int(ds, DCM_InstanceNumber, 0);
  s.rows = get_int(ds, DCM_Rows, 0);
  s.cols = get_int(ds, DCM_Columns, 0);
  s.frames = ds.tagExists(DCM_PixelData) ? get_int(ds, DCM_NumberOfFrames, 1) : 0;
  s.window_center = get_double(ds, DCM_WindowCenter, 0);
  s.window_width = get_double(ds, DCM_WindowWidth, 0);
  PSAM_CHECK(!s.sop_uid.empty(), fmt::format("DICOM {}: no SOPInstanceUID", path));
  return s;
}

// The first n stored values of PixelData (8- or 16-bit words) as int32.
template <typename Word>
void copy_pixel_data(DcmDataset& ds, long n, std::vector<std::int32_t>& raw,
                     const std::string& path) {
  const Word* p = nullptr;
  unsigned long count = 0;
  OFCondition st;
  if constexpr (sizeof(Word) == 2) {
    st = ds.findAndGetUint16Array(DCM_PixelData, p, &count);
  } else {
    st = ds.findAndGetUint8Array(DCM_PixelData, p, &count);
  }
  PSAM_CHECK(st.good() && p,
             fmt::format("DICOM {}: no {}-bit PixelData: {}", path, 8 * sizeof(Word), st.text()));
  PSAM_CHECK(count >= static_cast<unsigned long>(n),
             fmt::format("DICOM {}: PixelData has {} values, expected {}", path, count, n));
  for (long i = 0; i < n; ++i) raw[i] = p[i];
}

// stored * slope + intercept for one greyscale frame; stored values are sign-extended or masked
// to BitsStored, since the bits above may carry overlays or garbage.
at::Tensor modality_values(DcmDataset& ds, const DicomSlice& s, const std::string& path) {
  const double slope = get_double(ds, DCM_RescaleSlope, 1.0);
  const double intercept = get_double(ds, DCM_RescaleIntercept, 0.0);
  const int bits_allocated = get_int(ds, DCM_BitsAllocated, 0);
  const int bits_stored = get_int(ds, DCM_BitsStored, bits_allocated);
  const bool is_signed = get_int(ds, DCM_PixelRepresentation, 0) == 1;
  const int samples = get_int(ds, DCM_SamplesPerPixel, 1);
  PSAM_CHECK(samples == 1, fmt::format("DICOM {}: {} samples per pixel: expected a greyscale image",
                                       path, samples));
  PSAM_CHECK(s.frames == 1,
             fmt::format("DICOM {}: {} frames: expected a single-frame slice", path, s.frames));
  PSAM_CHECK(bits_allocated == 8 || bits_allocated == 16,
             fmt::format("DICOM {}: BitsAllocated {}: expected 8 or 16", path, bits_allocated));
  PSAM_CHECK(bits_stored >= 1 && bits_stored <= bits_allocated,
             fmt::format("DICOM {}: BitsStored {} with BitsAllocated {}", path, bits_stored,
                         bits_allocated));
  const long n = static_cast<long>(s.rows) * s.cols;
  PSAM_CHECK(n > 0, fmt::format("DICOM {}: image size {}x{}", path, s.rows, s.cols));

  std::vector<std::int32_t> raw(n);
  if (bits_allocated == 16) {
    copy_pixel_data<Uint16>(ds, n, raw, path);
  } else {
    copy_pixel_data<Uint8>(ds, n, raw, path);
  }
  const std::int32_t mask = static_cast<std::int32_t>((1u << bits_stored) - 1);
  const std::int32_t sign = static_cast<std::int32_t>(1u << (bits_stored - 1));
  auto out = torch::empty({s.rows, s.cols}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  for (long i = 0; i < n; ++i) {
    std::int32_t v = raw[i] & mask;
    if (is_signed && (v & sign)) v -= (mask + 1);
    o[i] = static_cast<float>(v * slope + intercept);
  }
  return out;
}

}  // namespace

DicomSlice read_dicom_header(const std::string& path) {
  DcmFileFormat file;
  load(file, path, false);
  return header_of(*file.getDataset(), path);
}

DicomSlice read_dicom(const std::string& path) {
  DcmFileFormat file;
  load(file, path, true);
  DcmDataset& ds = *file.getDataset();
  DicomSlice s = header_of(ds, path);
  PSAM_CHECK(s.frames > 0, fmt::format("DICOM {}: no PixelData", path));
  const DcmXfer xfer(ds.getOriginalXfer());
  if (xfer.isEncapsulated()) {
    const OFCondition st = ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    PSAM_CHECK(st.good() && ds.canWriteXfer(EXS_LittleEndianExplicit),
               fmt::format("DICOM {}: transfer syntax {} ({}) cannot be decoded by this build{}",
                           path, xfer.getXferName(), xfer.getXferID(),
                           st.good() ? std::string() : std::string(": ") + st.text()));
  }
  s.hu = modality_values(ds, s, path);
  return s;
}

bool can_decode(const std::string& transfer_syntax_uid) {
  init_dcmtk();
  const DcmXfer xfer(transfer_syntax_uid.c_str());
  if (xfer.getXfer() == EXS_Unknown) return false;
  return !xfer.isEncapsulated() ||
         DcmCodecList::canChangeCoding(xfer.getXfer(), EXS_LittleEndianExplicit);
}

#else

bool can_decode(const std::string&) { return false; }

DicomSlice read_dicom(const std::string& path) {
  fail("DICOM " + path + ": psam was built without DCMTK (configure with -DPSAM_WITH_DCMTK=ON)");
}

DicomSlice read_dicom_header(const std::string& path) { return read_dicom(path); }

#endif

}  // namespace psam::io
