// The allow-list of Python globals and what REDUCE / NEWOBJ / BUILD / BINPERSID do with them.
// Nothing here runs Python code: each allowed global has a fixed C++ meaning.
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "io/byteswap.h"
#include "io/pickle/pickle_objects.h"
#include "psam/io/dtype.h"
#include "psam/util/error.h"

namespace psam::io::pickle_detail {
namespace {

struct AllowedGlobal {
  const char* module;
  const char* name;
  GlobalId id;
  bool numpy;
};

// Protocols < 3 write Python 2 module names (__builtin__); numpy 2 moved numpy.core to
// numpy._core. Pickles name either.
constexpr std::array<AllowedGlobal, 27> kAllowed{{
    {"collections", "OrderedDict", GlobalId::kOrderedDict, false},
    {"torch._utils", "_rebuild_tensor", GlobalId::kRebuildTensor, false},
    {"torch._utils", "_rebuild_tensor_v2", GlobalId::kRebuildTensorV2, false},
    {"torch._utils", "_rebuild_parameter", GlobalId::kRebuildParameter, false},
    {"torch._utils", "_rebuild_parameter_with_state", GlobalId::kRebuildParameterWithState, false},
    {"torch._tensor", "_rebuild_from_type_v2", GlobalId::kRebuildFromTypeV2, false},
    {"torch", "Tensor", GlobalId::kTensorType, false},
    {"torch.nn.parameter", "Parameter", GlobalId::kParameterType, false},
    {"torch", "Size", GlobalId::kTorchSize, false},
    {"torch", "device", GlobalId::kTorchDevice, false},
    {"_codecs", "encode", GlobalId::kCodecsEncode, false},
    {"builtins", "set", GlobalId::kSet, false},
    {"__builtin__", "set", GlobalId::kSet, false},
    {"builtins", "frozenset", GlobalId::kFrozenSet, false},
    {"__builtin__", "frozenset", GlobalId::kFrozenSet, false},
    {"builtins", "bytes", GlobalId::kBytes, false},
    {"__builtin__", "bytes", GlobalId::kBytes, false},
    {"builtins", "bytearray", GlobalId::kBytes, false},
    {"__builtin__", "bytearray", GlobalId::kBytes, false},
    {"numpy.core.multiarray", "_reconstruct", GlobalId::kNumpyReconstruct, true},
    {"numpy._core.multiarray", "_reconstruct", GlobalId::kNumpyReconstruct, true},
    {"numpy.core.multiarray", "scalar", GlobalId::kNumpyScalar, true},
    {"numpy._core.multiarray", "scalar", GlobalId::kNumpyScalar, true},
    {"numpy.core.numeric", "_frombuffer", GlobalId::kNumpyFrombuffer, true},
    {"numpy._core.numeric", "_frombuffer", GlobalId::kNumpyFrombuffer, true},
    {"numpy", "ndarray", GlobalId::kNumpyNdarray, true},
    {"numpy", "dtype", GlobalId::kNumpyDtype, true},
}};

// ---- typed access to arguments ---------------------------------------------------------------

const std::vector<Value>& args_of(Context& ctx, const Value& args, const std::string& callee,
                                  size_t min_count, size_t max_count) {
  if (args.kind() != Kind::kTuple)
    ctx.fail(callee + " expects an argument tuple, got " + describe(args));
  const auto& items = args.node->items;
  if (items.size() < min_count || items.size() > max_count)
    ctx.fail(fmt::format("{} expects {} arguments, got {}", callee,
                         min_count == max_count ? std::to_string(min_count)
                                                : fmt::format("{}-{}", min_count, max_count),
                         items.size()));
  return items;
}

int64_t to_int(Context& ctx, const Value& v, const char* what) {
  if (v.kind() != Kind::kInt && v.kind() != Kind::kBool)
    ctx.fail(fmt::format("{}: expected an int, got {}", what, describe(v)));
  return v.i;
}

bool to_bool(Context& ctx, const Value& v, const char* what) { return to_int(ctx, v, what) != 0; }

std::string_view to_str(Context& ctx, const Value& v, const char* what) {
  if (v.kind() != Kind::kStr)
    ctx.fail(fmt::format("{}: expected a str, got {}", what, describe(v)));
  return v.node->text;
}

std::vector<int64_t> to_ints(Context& ctx, const Value& v, const char* what) {
  if (v.kind() != Kind::kTuple && v.kind() != Kind::kList)
    ctx.fail(fmt::format("{}: expected a tuple of ints, got {}", what, describe(v)));
  std::vector<int64_t> out;
  out.reserve(v.node->items.size());
  for (const auto& item : v.node->items) out.push_back(to_int(ctx, item, what));
  return out;
}

bool is_global(const Value& v, GlobalId id) {
  return v.kind() == Kind::kGlobal && v.node->global == id;
}

Value make_str(Context& ctx, std::string text) {
  Value v = ctx.make_value(Kind::kStr);
  v.node->owned = std::move(text);
  v.node->text = v.node->owned;
  return v;
}

Value make_tensor_value(Context& ctx, at::Tensor t) {
  Value v = ctx.make_value(Kind::kTensor);
  v.node->tensor = std::move(t);
  return v;
}

// Elements of shape, refusing negative sizes and overflow.
int64_t checked_numel(Context& ctx, const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) ctx.fail(fmt::format("{}: negative size {}", what, s));
    if (__builtin_mul_overflow(n, s, &n))
      ctx.fail(fmt::format("{}: element count overflows", what));
  }
  return n;
}

// ---- torch tensors ---------------------------------------------------------------------------

// A tensor viewing storage; its shape/strides/offset must stay inside the storage's elements.
Value rebuild_tensor(Context& ctx, const Value& storage, const Value& offset_v, const Value& size_v,
                     const Value& stride_v) {
  if (storage.kind() != Kind::kStorage)
    ctx.fail("tensor rebuild expects a storage (persistent id), got " + describe(storage));
  const Node& s = *storage.node;
  const int64_t offset = to_int(ctx, offset_v, "tensor storage offset");
  const auto sizes = to_ints(ctx, size_v, "tensor size");
  const auto strides = to_ints(ctx, stride_v, "tensor stride");
  if (sizes.size() != strides.size())
    ctx.fail(fmt::format("tensor has {} sizes but {} strides", sizes.size(), strides.size()));
  if (offset < 0 || offset > s.numel)
    ctx.fail(fmt::format("tensor storage offset {} outside its storage of {} elements", offset,
                         s.numel));
  const int64_t numel = checked_numel(ctx, sizes, "tensor size");
  if (numel > 0) {
    int64_t last = offset;  // index of the last element the view touches
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (strides[d] < 0) ctx.fail(fmt::format("negative tensor stride {}", strides[d]));
      int64_t span = 0;
      if (__builtin_mul_overflow(sizes[d] - 1, strides[d], &span) ||
          __builtin_add_overflow(last, span, &last))
        ctx.fail("tensor extent overflows");
    }
    if (last >= s.numel)
      ctx.fail(fmt::format(
          "tensor of shape [{}] with strides [{}] at offset {} needs {} elements, its storage "
          "has {}",
          fmt::join(sizes, ","), fmt::join(strides, ","), offset, last + 1, s.numel));
  }
  at::Tensor t = at::empty({0}, at::TensorOptions().dtype(s.dtype));
  t.set_(s.storage, offset, sizes, strides);
  return make_tensor_value(ctx, std::move(t));
}

// ---- numpy -----------------------------------------------------------------------------------

Value numpy_dtype(Context& ctx, std::string_view descr) {
  Value v = ctx.make_value(Kind::kNumpyDtype);
  if (!descr.empty() && std::strchr("<>|=", descr.front()) != nullptr) {
    v.node->byteorder = descr.front();
    descr.remove_prefix(1);
  }
  const DtypeInfo* d = find_dtype_by_numpy(std::string(descr));
  if (d == nullptr)
    ctx.fail(
        fmt::format("numpy dtype '{}' is not supported (f2 f4 f8 u1 i1 i2 i4 i8 b1 are)", descr));
  v.node->dtype = d->type;
  return v;
}

bool big_endian(const Node& dtype) {
  return dtype.byteorder == '>' && dtype_info(dtype.dtype, "numpy array").itemsize > 1;
}

// A tensor holding a copy of (or, for latin-1-decoded bytes, sharing) an array's raw data.
at::Tensor numpy_array(Context& ctx, const Value& dtype_v, const std::vector<int64_t>& shape,
                       bool fortran, const Value& data) {
  if (dtype_v.kind() != Kind::kNumpyDtype)
    ctx.fail("numpy array: expected a numpy dtype, got " + describe(dtype_v));
  if (data.kind() != Kind::kBytes)
    ctx.fail("numpy array data: expected bytes, got " + describe(data) +
             " (object arrays are not supported)");
  const Node& dtype = *dtype_v.node;
  const int64_t numel = checked_numel(ctx, shape, "numpy array shape");
  const size_t itemsize = dtype_info(dtype.dtype, "numpy array").itemsize;
  const std::string_view bytes = data.node->text;
  if (static_cast<uint64_t>(numel) > bytes.size() / itemsize ||
      bytes.size() != static_cast<size_t>(numel) * itemsize)
    ctx.fail(fmt::format("numpy array of shape ({}) needs {} items of {} bytes, has {} bytes",
                         fmt::join(shape, ","), numel, itemsize, bytes.size()));
  // Fortran order: the data is the C-order array of the reversed shape, transposed.
  std::vector<int64_t> layout(shape);
  if (fortran) std::reverse(layout.begin(), layout.end());
  at::Tensor t;
  const at::Tensor& buffer = data.node->buffer;
  if (buffer.defined() && numel > 0 && !big_endian(dtype)) {
    t = buffer.view(dtype.dtype).view(layout);
  } else if (ctx.input_owner && data.node->owned.empty() && numel > 0 && !big_endian(dtype) &&
             !fortran && reinterpret_cast<uintptr_t>(bytes.data()) % itemsize == 0) {
    // The bytes lie in the input itself; a misaligned element pointer would be undefined
    // behaviour in the kernels, so those arrays are copied instead.
    std::shared_ptr<const void> owner = ctx.input_owner;
    t = at::from_blob(
        const_cast<char*>(bytes.data()), layout, [owner](void*) {},
        at::TensorOptions().dtype(dtype.dtype));
  } else {
    t = at::empty(layout, at::TensorOptions().dtype(dtype.dtype));
    if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    if (big_endian(dtype)) byteswap_inplace(t);
  }
  if (fortran) {
    std::vector<int64_t> order(shape.size());
    for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<int64_t>(order.size() - 1 - d);
    t = t.permute(order).contiguous();
  }
  return t;
}

void build_numpy_array(Context& ctx, Node& array, const Value& state) {
  // ndarray.__setstate__((version, shape, dtype, is_fortran, data)); version is absent in
  // pickles from numpy < 1.0.
  if (state.kind() != Kind::kTuple)
    ctx.fail("numpy array state: expected a tuple, got " + describe(state));
  const auto& s = state.node->items;
  if (s.size() != 5 && s.size() != 4)
    ctx.fail(fmt::format("numpy array state: expected 4 or 5 items, got {}", s.size()));
  const size_t base = s.size() - 4;
  const auto shape = to_ints(ctx, s[base], "numpy array shape");
  const bool fortran = to_bool(ctx, s[base + 2], "numpy array fortran flag");
  array.tensor = numpy_array(ctx, s[base + 1], shape, fortran, s[base + 3]);
  array.kind = Kind::kTensor;
}

void build_numpy_dtype(Context& ctx, Node& dtype, const Value& state) {
  // dtype.__setstate__((version, byteorder, subarray, names, fields, elsize, alignment, flags
  // [, metadata])): only plain numeric dtypes, so subarray, names and fields must be None.
  if (state.kind() != Kind::kTuple || state.node->items.size() < 5)
    ctx.fail("numpy dtype state: expected a tuple of at least 5 items, got " + describe(state));
  const auto& s = state.node->items;
  const std::string_view order = to_str(ctx, s[1], "numpy dtype byte order");
  if (order.size() != 1 || std::strchr("<>|=", order[0]) == nullptr)
    ctx.fail(fmt::format("numpy dtype byte order '{}' is not one of < > | =", order));
  for (size_t i = 2; i <= 4; ++i)
    if (s[i].kind() != Kind::kNone)
      ctx.fail("numpy structured or sub-array dtypes are not supported");
  dtype.byteorder = order[0];
}

Value latin1_bytes(Context& ctx, std::string_view text) {
  // Each code point (< 256) of the UTF-8 text becomes one byte. Counted first so the buffer,
  // which a numpy array may adopt, has no slack.
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  at::Tensor buffer = at::empty({static_cast<int64_t>(count)}, at::kByte);
  auto* out = buffer.data_ptr<uint8_t>();
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      *out++ = c;
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      *out++ = static_cast<uint8_t>(((c & 0x03) << 6) | (text[++i] & 0x3F));
    } else {
      ctx.fail("_codecs.encode: text is not latin-1");
    }
  }
  Value v = ctx.make_value(Kind::kBytes);
  v.node->buffer = std::move(buffer);
  v.node->text = std::string_view(reinterpret_cast<const char*>(v.node->buffer.data_ptr()), count);
  return v;
}

Value copy_items(Context& ctx, Kind kind, const std::vector<Value>& args, const char* callee) {
  Value out = ctx.make_value(kind);
  if (args.empty()) return out;
  const Value& src = args[0];
  if (src.kind() != Kind::kList && src.kind() != Kind::kTuple && src.kind() != Kind::kSet &&
      src.kind() != Kind::kFrozenSet)
    ctx.fail(fmt::format("{}: expected a list or tuple, got {}", callee, describe(src)));
  out.node->items = src.node->items;
  return out;
}

}  // namespace

// ---- the entry points ------------------------------------------------------------------------

void Context::fail(const std::string& message) const {
  psam::fail(fmt::format("{}: pickle byte {}: {}",
                         options.source.empty() ? "pickle" : options.source, offset, message));
}

std::string describe(const Value& v) {
  switch (v.kind()) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kStr:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return v.node->ordered ? "OrderedDict" : "dict";
    case Kind::kSet:
      return "set";
    case Kind::kFrozenSet:
      return "frozenset";
    case Kind::kTensor:
      return "tensor";
    case Kind::kStorage:
      return "torch storage";
    case Kind::kGlobal:
      return "global " + v.node->name;
    case Kind::kTorchDtype:
      return "torch dtype";
    case Kind::kNumpyDtype:
      return "numpy dtype";
    case Kind::kNumpyArray:
      return "numpy array without data";
  }
  return "object";
}

Value resolve_global(Context& ctx, const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  Value v;
  auto make_global = [&](GlobalId id) {
    v = ctx.make_value(Kind::kGlobal);
    v.node->global = id;
    v.node->name = full;
  };
  for (const auto& g : kAllowed) {
    if (module != g.module || name != g.name) continue;
    if (g.numpy && !ctx.options.allow_numpy)
      ctx.fail("global '" + full + "' refused: numpy arrays are not enabled for this file");
    make_global(g.id);
    return v;
  }
  if (module == "torch") {
    if (const DtypeInfo* d = find_dtype_by_storage(name)) {
      make_global(GlobalId::kStorageType);
      v.node->dtype = d->type;
      return v;
    }
    if (const DtypeInfo* d = find_dtype_by_name(name)) {
      v = ctx.make_value(Kind::kTorchDtype);
      v.node->dtype = d->type;
      return v;
    }
  }
  ctx.fail("global '" + full +
           "' is not allowed: psam reads only tensors, numbers, strings and containers, and "
           "never runs code from a file");
}

Value call(Context& ctx, const Value& callable, const Value& args_v) {
  if (callable.kind() != Kind::kGlobal)
    ctx.fail("REDUCE calls " + describe(callable) + ", which is not callable");
  const std::string& fn = callable.node->name;
  switch (callable.node->global) {
    case GlobalId::kOrderedDict: {
      args_of(ctx, args_v, fn, 0, 0);
      Value d = ctx.make_value(Kind::kDict);
      d.node->ordered = true;
      return d;
    }
    case GlobalId::kRebuildTensor: {
      const auto& a = args_of(ctx, args_v, fn, 4, 4);
      return rebuild_tensor(ctx, a[0], a[1], a[2], a[3]);
    }
    case GlobalId::kRebuildTensorV2: {
      // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata]); the last
      // three matter only to autograd and tensor subclasses.
      const auto& a = args_of(ctx, args_v, fn, 6, 7);
      return rebuild_tensor(ctx, a[0], a[1], a[2], a[3]);
    }
    case GlobalId::kRebuildParameter:
    case GlobalId::kRebuildParameterWithState: {
      const size_t n = callable.node->global == GlobalId::kRebuildParameter ? 3 : 4;
      const auto& a = args_of(ctx, args_v, fn, n, n);
      if (a[0].kind() != Kind::kTensor) ctx.fail(fn + ": expected a tensor, got " + describe(a[0]));
      return a[0];
    }
    case GlobalId::kRebuildFromTypeV2: {
      // (func, type, args, state): a tensor (subclass) with Python attributes, which we drop.
      const auto& a = args_of(ctx, args_v, fn, 4, 4);
      if (!is_global(a[1], GlobalId::kTensorType) && !is_global(a[1], GlobalId::kParameterType))
        ctx.fail(fn + ": tensor type " + describe(a[1]) + " is not allowed");
      // A nested _rebuild_from_type_v2 would let a file drive our recursion.
      if (is_global(a[0], GlobalId::kRebuildFromTypeV2)) ctx.fail(fn + " nested in itself");
      Value t = call(ctx, a[0], a[2]);
      if (t.kind() != Kind::kTensor) ctx.fail(fn + ": expected a tensor, got " + describe(t));
      return t;
    }
    case GlobalId::kTorchSize: {
      const auto& a = args_of(ctx, args_v, fn, 0, 1);
      Value size = ctx.make_value(Kind::kTuple);
      if (!a.empty()) {
        to_ints(ctx, a[0], "torch.Size");
        size.node->items = a[0].node->items;
      }
      return size;
    }
    case GlobalId::kTorchDevice: {
      const auto& a = args_of(ctx, args_v, fn, 1, 2);
      std::string device(to_str(ctx, a[0], "torch.device"));
      if (a.size() == 2 && a[1].kind() != Kind::kNone)
        device += ":" + std::to_string(to_int(ctx, a[1], "torch.device index"));
      return make_str(ctx, std::move(device));
    }
    case GlobalId::kCodecsEncode: {
      const auto& a = args_of(ctx, args_v, fn, 2, 2);
      const std::string_view encoding = to_str(ctx, a[1], "_codecs.encode encoding");
      if (encoding != "latin1" && encoding != "latin-1")
        ctx.fail(
            fmt::format("_codecs.encode: encoding '{}' is not supported (latin1 is)", encoding));
      return latin1_bytes(ctx, to_str(ctx, a[0], "_codecs.encode text"));
    }
    case GlobalId::kSet:
      return copy_items(ctx, Kind::kSet, args_of(ctx, args_v, fn, 0, 1), "set");
    case GlobalId::kFrozenSet:
      return copy_items(ctx, Kind::kFrozenSet, args_of(ctx, args_v, fn, 0, 1), "frozenset");
    case GlobalId::kBytes: {
      // bytes() for b"" and bytearray(b) for a bytearray; either way bytes to us.
      const auto& a = args_of(ctx, args_v, fn, 0, 1);
      if (a.empty()) return ctx.make_value(Kind::kBytes);
      if (a[0].kind() != Kind::kBytes) ctx.fail(fn + ": expected bytes, got " + describe(a[0]));
      return a[0];
    }
    case GlobalId::kNumpyReconstruct: {
      // _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD then fills.
      const auto& a = args_of(ctx, args_v, fn, 3, 3);
      if (!is_global(a[0], GlobalId::kNumpyNdarray))
        ctx.fail(fn + ": array type " + describe(a[0]) + " is not allowed (numpy.ndarray is)");
      return ctx.make_value(Kind::kNumpyArray);
    }
    case GlobalId::kNumpyDtype: {
      const auto& a = args_of(ctx, args_v, fn, 1, 3);
      return numpy_dtype(ctx, to_str(ctx, a[0], "numpy dtype"));
    }
    case GlobalId::kNumpyScalar: {
      const auto& a = args_of(ctx, args_v, fn, 2, 2);
      return make_tensor_value(ctx, numpy_array(ctx, a[0], {}, false, a[1]));
    }
    case GlobalId::kNumpyFrombuffer: {
      // Protocol 5: _frombuffer(buffer, dtype, shape, order).
      const auto& a = args_of(ctx, args_v, fn, 4, 4);
      const std::string_view order = to_str(ctx, a[3], "numpy array order");
      if (order != "C" && order != "F")
        ctx.fail(fmt::format("numpy array order '{}' is not C or F", order));
      return make_tensor_value(
          ctx, numpy_array(ctx, a[1], to_ints(ctx, a[2], "numpy array shape"), order == "F", a[0]));
    }
    case GlobalId::kTensorType:
    case GlobalId::kParameterType:
    case GlobalId::kStorageType:
    case GlobalId::kNumpyNdarray:
      break;
  }
  ctx.fail("calling " + fn + " is not allowed");
}

Value instantiate(Context& ctx, const Value& cls, const Value& args) {
  // NEWOBJ is cls.__new__(cls, *args); of our types only OrderedDict appears (empty, then
  // SETITEMS).
  if (!is_global(cls, GlobalId::kOrderedDict))
    ctx.fail("creating an instance of " + describe(cls) + " is not allowed");
  Value d = ctx.make_value(Kind::kDict);
  d.node->ordered = true;
  return d;
}

void build(Context& ctx, const Value& obj, const Value& state) {
  switch (obj.kind()) {
    case Kind::kNumpyArray:
      return build_numpy_array(ctx, *obj.node, state);
    case Kind::kNumpyDtype:
      return build_numpy_dtype(ctx, *obj.node, state);
    case Kind::kDict:
      // OrderedDict attributes: torch.save(module.state_dict()) sets _metadata.
      if (obj.node->ordered && state.kind() == Kind::kDict) {
        const auto& items = state.node->items;
        for (size_t i = 0; i + 1 < items.size(); i += 2) {
          if (items[i].kind() == Kind::kStr && items[i].node->text == "_metadata") {
            obj.node->metadata = items[i + 1];
            obj.node->has_metadata = true;
          }
        }
        return;
      }
      break;
    case Kind::kTensor:
      // Python attributes of a tensor do not matter to its values.
      if (state.kind() == Kind::kDict || state.kind() == Kind::kNone) return;
      break;
    default:
      break;
  }
  ctx.fail("BUILD of " + describe(obj) + " with " + describe(state) + " state is not supported");
}

Value load_persistent(Context& ctx, const Value& pid) {
  if (!ctx.storages) ctx.fail("persistent id (a torch storage) in a plain pickle");
  if (pid.kind() != Kind::kTuple || pid.node->items.size() != 5)
    ctx.fail("persistent id: expected ('storage', type, key, location, numel), got " +
             describe(pid));
  const auto& p = pid.node->items;
  if (to_str(ctx, p[0], "persistent id") != "storage")
    ctx.fail("persistent id: only 'storage' ids are supported");
  if (!is_global(p[1], GlobalId::kStorageType))
    ctx.fail("persistent id: expected a torch storage type, got " + describe(p[1]));
  const std::string key(to_str(ctx, p[2], "storage key"));
  const int64_t numel = to_int(ctx, p[4], "storage size");
  const at::ScalarType dtype = p[1].node->dtype;
  const size_t itemsize = dtype_info(dtype, "storage " + key).itemsize;
  if (numel < 0 || static_cast<uint64_t>(numel) > SIZE_MAX / itemsize)
    ctx.fail(fmt::format("storage {} claims {} elements", key, numel));
  auto it = ctx.loaded_storages.find(key);
  if (it == ctx.loaded_storages.end())
    it = ctx.loaded_storages.emplace(key, ctx.storages(StorageRequest{key, dtype, numel})).first;
  if (it->second.nbytes() < static_cast<size_t>(numel) * itemsize)
    ctx.fail(fmt::format("storage {} has {} bytes, the pickle needs {}", key, it->second.nbytes(),
                         static_cast<size_t>(numel) * itemsize));
  Value v = ctx.make_value(Kind::kStorage);
  v.node->storage = it->second;
  v.node->dtype = dtype;
  v.node->numel = numel;
  return v;
}

}  // namespace psam::io::pickle_detail
