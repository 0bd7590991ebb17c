// The safe unpickler on a plain pickle file, as `psam info` and `psam data import-knegt` read
// one: numpy arrays allowed (as views of the mapped file where possible), the result flattened to
// its tensors.
#include "fuzz/fuzz_target.h"
#include "fuzz/touch.h"
#include "psam/io/pickle/pickle.h"
#include "psam/io/pth.h"

PSAM_FUZZ_TARGET(pickle) {
  const std::string path =
      psam::fuzz::write_file("input.pkl", {reinterpret_cast<const char*>(data), size});
  psam::io::DictNotes notes;
  psam::io::UnpickleOptions options;
  options.allow_numpy = true;
  options.numpy_views = true;
  options.notes = &notes;
  const c10::IValue obj = psam::io::read_pickle(path, options);
  psam::fuzz::touch(psam::io::flatten_tensors(obj));
}
