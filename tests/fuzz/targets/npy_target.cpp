// An .npy array, memory-mapped as the dataset store and `psam eval-masks` read it.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/npy.h"

PSAM_FUZZ_TARGET(npy) {
  const std::string path =
      psam::fuzz::write_file("input.npy", {reinterpret_cast<const char*>(data), size});
  psam::fuzz::touch(psam::io::read_npy(path));
}
