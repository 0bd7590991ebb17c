// A safe reader and a writer for Python pickles (protocols 2-5) as torch.save and numpy use them.
//
// Reading never executes anything: GLOBAL / STACK_GLOBAL opcodes are resolved against a fixed
// allow-list (collections.OrderedDict, the torch tensor rebuild functions, torch storage types,
// torch dtypes, torch.Size, torch.device, set/frozenset, _codecs.encode for protocol-2 bytes and -
// when enabled - numpy's array reconstruction, dtype and scalars); any other global (os.system,
// builtins.eval, subprocess.Popen, ...) is refused with a psam::Error naming it. Every read is
// bounds-checked, the decoder keeps its own stacks (no recursion), nesting depth is limited and
// reference cycles are refused, so a hostile file gives an error, never a crash.
#pragma once

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace psam::io {

// What the unpickler needs to materialise a torch storage named by a persistent id
// ('storage', <StorageType>, key, location, numel): the bytes of archive record `key`.
struct StorageRequest {
  std::string key;       // record name inside the archive's data/ folder
  at::ScalarType dtype;  // element type from the storage class (FloatStorage -> Float)
  int64_t numel;         // elements the pickle claims the storage has
};
// Called once per key; must return a CPU storage of at least numel * itemsize bytes.
using StorageLoader = std::function<at::Storage(const StorageRequest&)>;

// What the IValue form loses: which dicts were collections.OrderedDict, and the `_metadata`
// attribute that torch.save(module.state_dict()) attaches (per-module versions). Keyed by the
// dict's identity (c10::IValue::internalToPointer()); valid while the unpickled object lives.
struct DictNotes {
  std::unordered_set<const void*> ordered;
  std::unordered_map<const void*, c10::IValue> metadata;
  // "dict", "OrderedDict" or "OrderedDict with _metadata" for a dict IValue.
  std::string python_type(const c10::IValue& dict) const;
};

struct UnpickleOptions {
  // numpy.core.multiarray._reconstruct / scalar, numpy.ndarray, numpy.dtype and
  // numpy.core.numeric._frombuffer (also under numpy._core): arrays of dtypes f2 f4 f8 u1 i1 i2
  // i4 i8 b1 in any byte order become tensors.
  bool allow_numpy = false;
  // With read_pickle: numpy arrays whose data lie in the file (protocol >= 3 bytes, native byte
  // order, C order, element-aligned in the file) become views of the read-only memory map, which
  // they keep alive, instead of copies (writing into them faults). unpickle() always copies.
  bool numpy_views = false;
  int max_depth = 1000;        // containers nested deeper than this are an error
  std::string source;          // file name used in error messages
  DictNotes* notes = nullptr;  // filled when given
};

// Decodes one pickle. Python objects map to IValues: dict / OrderedDict -> GenericDict (order
// kept), list and set -> GenericList, tuple, frozenset and torch.Size -> Tuple, str / bytes ->
// string, int -> int (up to 64 bits), float -> double, bool, None, torch tensors and numpy arrays
// -> at::Tensor (requires_grad and Python attributes are dropped), torch.device and dtypes ->
// their names as strings ("cuda:0", "torch.float16"). Tensors with a persistent storage get it
// from `storages` (an empty loader refuses persistent ids); numpy arrays are copied out of
// `data`, so it need not outlive the call.
c10::IValue unpickle(const uint8_t* data, size_t size, const StorageLoader& storages,
                     const UnpickleOptions& options = {});

// A whole-file plain pickle (pickle.dump, not torch.save), memory-mapped while it is decoded.
// options.source defaults to the path.
c10::IValue read_pickle(const std::string& path, UnpickleOptions options = {});

// Encodes obj as a protocol-2 pickle in the form torch.save uses, tensors becoming persistent
// ids ('storage', torch.<Type>Storage, key, 'cpu', numel) through `add_storage`, which receives
// each tensor made contiguous and CPU and returns the record key it stored the bytes under.
// Python's torch.load(weights_only=True) accepts the result (torch 1.13 lacks BINFLOAT there:
// Python floats need torch >= 2.0 for weights_only; torch.load without it reads them).
// Supported: None, bool, int, double, string, tensor, list, tuple, dict with string or int keys
// (written as a plain dict).
std::string pickle(const c10::IValue& obj,
                   const std::function<std::string(const at::Tensor&)>& add_storage);

}  // namespace psam::io
