// The unpickler's own object model. Python objects live in an arena owned by the decoder and
// refer to each other by raw pointer, so a hostile pickle (a reference cycle, a million nested
// lists) can neither leak nor overflow the stack when the arena is destroyed: it is one flat
// vector. Only the final, depth-checked result is turned into c10::IValues.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Storage.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "psam/io/pickle/pickle.h"

namespace psam::io::pickle_detail {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  // The kinds below live in a Node.
  kStr,
  kBytes,
  kList,
  kTuple,
  kDict,
  kSet,
  kFrozenSet,
  kTensor,
  kStorage,     // a torch storage named by a persistent id
  kGlobal,      // an allow-listed Python callable or class
  kTorchDtype,  // torch.float32, ...
  kNumpyDtype,  // numpy.dtype('f4') awaiting or past its BUILD (byte order)
  kNumpyArray,  // numpy _reconstruct(...) result awaiting BUILD with shape, dtype, data
};

// The allow-list: every Python global the unpickler resolves.
enum class GlobalId : uint8_t {
  kOrderedDict,
  kRebuildTensor,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kTensorType,     // torch.Tensor (only as the type argument of _rebuild_from_type_v2)
  kParameterType,  // torch.nn.parameter.Parameter (same)
  kStorageType,    // torch.FloatStorage, ...; Node::dtype says which
  kTorchSize,
  kTorchDevice,
  kCodecsEncode,  // _codecs.encode(str, 'latin1'): how protocol 2 spells bytes
  kSet,
  kFrozenSet,
  kBytes,  // bytes() and bytearray(b): protocols < 3 and < 5 spell these with REDUCE
  kNumpyReconstruct,
  kNumpyNdarray,
  kNumpyDtype,
  kNumpyScalar,
  kNumpyFrombuffer,
};

struct Node;

// A Python value on the decoder's stack or inside a container: immediates inline, the rest in
// the arena. A node's kind lives in the node alone, because BUILD may change it (a numpy array
// stub becomes a tensor) while the memo and containers hold references to it.
struct Value {
  Kind immediate = Kind::kNone;  // kNone, kBool, kInt or kFloat when node is null
  int64_t i = 0;                 // kBool, kInt
  double f = 0;                  // kFloat
  Node* node = nullptr;

  Kind kind() const;
};

struct Node {
  Kind kind;
  // kList / kTuple / kSet / kFrozenSet: elements; kDict: key0, value0, key1, value1, ...
  std::vector<Value> items;
  // kStr / kBytes: the payload, viewing the pickle itself, `owned` or `buffer`.
  std::string_view text;
  std::string owned;
  at::Tensor buffer;    // kBytes decoded from latin-1: uint8, reused by numpy arrays without a copy
  at::Tensor tensor;    // kTensor
  at::Storage storage;  // kStorage
  int64_t numel = 0;    // kStorage: elements the pickle claims
  at::ScalarType dtype = at::kFloat;  // kStorage, kTorchDtype, kNumpyDtype, kGlobal kStorageType
  char byteorder = '=';               // kNumpyDtype: '<', '>', '|' or '='
  GlobalId global = GlobalId::kOrderedDict;  // kGlobal
  std::string name;                          // kGlobal: "module.name", for messages
  bool ordered = false;                      // kDict: a collections.OrderedDict
  Value metadata;  // kDict: the `_metadata` attribute BUILD gave an OrderedDict
  bool has_metadata = false;
};

inline Kind Value::kind() const { return node != nullptr ? node->kind : immediate; }

// Decoder state the opcode handlers share: the arena, the options, where we are (for messages).
class Context {
 public:
  Context(const UnpickleOptions& options, const StorageLoader& storages)
      : options(options), storages(storages) {}

  Node* make(Kind kind) {
    nodes_.push_back(std::make_unique<Node>());
    nodes_.back()->kind = kind;
    return nodes_.back().get();
  }
  Value make_value(Kind kind) { return Value{kind, 0, 0, make(kind)}; }

  // psam::Error "<source>: pickle byte <offset>: <message>".
  [[noreturn]] void fail(const std::string& message) const;

  const UnpickleOptions& options;
  const StorageLoader& storages;
  std::shared_ptr<const void> input_owner;  // set: numpy arrays may view the input (numpy_views)
  size_t offset = 0;                                             // of the opcode being executed
  std::unordered_map<std::string, at::Storage> loaded_storages;  // by record key

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

// A short description of a value's Python type, for messages: "str", "tuple", "global os.system".
std::string describe(const Value& v);

// The semantics of the allow-listed globals (pickle_globals.cpp).
Value resolve_global(Context& ctx, const std::string& module, const std::string& name);
Value call(Context& ctx, const Value& callable, const Value& args);    // REDUCE
Value instantiate(Context& ctx, const Value& cls, const Value& args);  // NEWOBJ
void build(Context& ctx, const Value& obj, const Value& state);        // BUILD
Value load_persistent(Context& ctx, const Value& pid);                 // BINPERSID

// Turns the decoded result into IValues (pickle_convert.cpp).
c10::IValue to_ivalue(const Context& ctx, const Value& root, DictNotes* notes);

}  // namespace psam::io::pickle_detail
