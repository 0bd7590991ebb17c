// One DICOM file as `psam predict` and the LIDC importer read it: the header alone (the importer's
// series index), then the pixels converted to HU. Files DCMTK cannot parse must come back as a
// psam::Error; what DCMTK does return (sizes, bit depths, pixel arrays) is what psam checks.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/dicom.h"

PSAM_FUZZ_TARGET(dicom) {
  const std::string path =
      psam::fuzz::write_file("input.dcm", {reinterpret_cast<const char*>(data), size});
  psam::io::read_dicom_header(path);
  psam::fuzz::touch(psam::io::read_dicom(path).hu);
}
