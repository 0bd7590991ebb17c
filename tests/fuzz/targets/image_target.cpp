// An image file (PNG, JPEG, ...) decoded to RGB as `psam predict` and the LIDC PNG importer do.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/image.h"

PSAM_FUZZ_TARGET(image) {
  const std::string path =
      psam::fuzz::write_file("input.img", {reinterpret_cast<const char*>(data), size});
  psam::fuzz::touch(psam::io::read_image_rgb(path));
}
