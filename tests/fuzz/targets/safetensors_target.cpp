// A .safetensors file, as model loading and `psam info` read it.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/safetensors.h"

PSAM_FUZZ_TARGET(safetensors) {
  const std::string path =
      psam::fuzz::write_file("input.safetensors", {reinterpret_cast<const char*>(data), size});
  const psam::io::Safetensors st = psam::io::read_safetensors(path);
  psam::fuzz::touch(st.tensors);
}
