// A torch.save zip archive (zip container, data.pkl through the safe unpickler, storage records),
// read as `psam info` and model loading read it.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/pth.h"

PSAM_FUZZ_TARGET(pth) {
  const std::string path =
      psam::fuzz::write_file("input.pth", {reinterpret_cast<const char*>(data), size});
  psam::io::DictNotes notes;
  const c10::IValue obj = psam::io::read_pth(path, &notes);
  psam::fuzz::touch(psam::io::flatten_tensors(obj));
}
