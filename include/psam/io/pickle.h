// A safe reader and a writer for Python pickles (protocols 2-5) as torch.save and numpy use them.
//
// Reading never executes anything: GLOBAL / STACK_GLOBAL opcodes are resolved against a fixed
// allow-list (collections.OrderedDict, the torch tensor rebuild functions, torch storage types,
// torch dtypes, and - when enabled - numpy's array reconstruction and dtype); any other global
// (os.system, builtins.eval, subprocess.Popen, ...) is refused with a psam::Error naming it.
// Every read is bounds-checked and nesting depth is limited, so a hostile file gives an error.
#pragma once

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <functional>
#include <string>

namespace psam::io {

// What the unpickler needs to materialise a torch storage named by a persistent id
// ('storage', <StorageType>, key, location, numel): the bytes of archive record `key`.
struct StorageRequest {
  std::string key;        // record name inside the archive's data/ folder
  at::ScalarType dtype;   // element type from the storage class (FloatStorage -> Float)
  int64_t numel;          // elements the pickle claims the storage has
};
using StorageLoader = std::function<at::Storage(const StorageRequest&)>;

struct UnpickleOptions {
  bool allow_numpy = false;  // numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype
  int max_depth = 1000;      // containers nested deeper than this are an error
  std::string source;        // file name used in error messages
};

// Decodes one pickle. Python objects map to IValues: dict / OrderedDict -> GenericDict (order
// kept), list -> GenericList, tuple -> Tuple, str / bytes -> string, int -> int, float -> double,
// bool, None, torch tensors and numpy arrays -> at::Tensor (numpy arrays are copied out).
c10::IValue unpickle(const uint8_t* data, size_t size, const StorageLoader& storages,
                     const UnpickleOptions& options = {});

// Encodes obj as a protocol-2 pickle in the form torch.save uses, tensors becoming persistent
// ids ('storage', torch.<Type>Storage, key, 'cpu', numel) through `add_storage`, which returns the
// record key it stored the (contiguous, CPU) tensor's bytes under. Python's
// torch.load(weights_only=True) accepts the result. Supported: None, bool, int, double, string,
// tensor, list, tuple, dict with string or int keys.
std::string pickle(const c10::IValue& obj, const std::function<std::string(const at::Tensor&)>& add_storage);

}  // namespace psam::io
