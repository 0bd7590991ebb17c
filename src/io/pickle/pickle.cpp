// The pickle writer: protocol 2 with only the opcodes and globals that torch.load's
// weights_only unpickler accepts (torch 1.13 and 2.x), in the layout torch.save uses for tensors.
#include "psam/io/pickle/pickle.h"

#include <fmt/format.h>

#include <cstring>

#include "psam/io/dtype.h"
#include "psam/util/error.h"

namespace psam::io {
namespace {

class Pickler {
 public:
  explicit Pickler(const std::function<std::string(const at::Tensor&)>& add_storage)
      : add_storage_(add_storage) {}

  std::string run(const c10::IValue& obj) {
    out_ += "\x80\x02";  // PROTO 2
    save(obj, 0);
    out_ += '.';  // STOP
    return std::move(out_);
  }

 private:
  static constexpr int kMaxDepth = 1000;

  void op(char c) { out_ += c; }
  void raw_le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }

  void save_int(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');  // BININT1
      raw_le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op('M');  // BININT2
      raw_le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');  // BININT
      raw_le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      op('\x8a');  // LONG1: 8 bytes of two's complement always hold an int64
      raw_le(8, 1);
      raw_le(static_cast<uint64_t>(v), 8);
    }
  }
  void save_float(double v) {
    op('G');  // BINFLOAT, big-endian
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 7; i >= 0; --i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void save_str(const std::string& s) {
    PSAM_CHECK(s.size() <= UINT32_MAX, "pickle: string longer than 4 GiB");
    op('X');  // BINUNICODE
    raw_le(s.size(), 4);
    out_ += s;
  }
  void save_global(const char* module, const char* name) {
    out_ += fmt::format("c{}\n{}\n", module, name);  // GLOBAL
  }
  void save_int_tuple(c10::IntArrayRef values) {
    op('(');  // MARK
    for (int64_t v : values) save_int(v);
    op('t');  // TUPLE
  }

  void save_tensor(const at::Tensor& tensor) {
    const DtypeInfo& d = dtype_info(tensor.scalar_type(), "pickle: tensor");
    const at::Tensor t = tensor.detach().cpu().contiguous();
    const std::string key = add_storage_(t);
    // _rebuild_tensor_v2(('storage', torch.<Type>Storage, key, 'cpu', numel), offset, size,
    // stride, requires_grad, OrderedDict()) as torch.save writes it.
    save_global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(');
    save_str("storage");
    save_global("torch", d.storage);
    save_str(key);
    save_str("cpu");
    save_int(t.numel());
    op('t');
    op('Q');  // BINPERSID
    save_int(0);
    save_int_tuple(t.sizes());
    save_int_tuple(t.strides());
    op('\x89');  // NEWFALSE
    save_global("collections", "OrderedDict");
    op(')');  // EMPTY_TUPLE
    op('R');  // REDUCE
    op('t');
    op('R');
  }

  void save_items(c10::ArrayRef<c10::IValue> items, int depth) {
    for (const auto& item : items) save(item, depth + 1);
  }

  void save(const c10::IValue& v, int depth) {
    PSAM_CHECK(depth <= kMaxDepth,
               fmt::format("pickle: containers nested deeper than {}", kMaxDepth));
    if (v.isNone()) {
      op('N');
    } else if (v.isBool()) {
      op(v.toBool() ? '\x88' : '\x89');
    } else if (v.isInt()) {
      save_int(v.toInt());
    } else if (v.isDouble()) {
      save_float(v.toDouble());
    } else if (v.isString()) {
      save_str(v.toStringRef());
    } else if (v.isTensor()) {
      save_tensor(v.toTensor());
    } else if (v.isTuple()) {
      op('(');
      save_items(v.toTupleRef().elements(), depth);
      op('t');
    } else if (v.isList()) {
      op(']');  // EMPTY_LIST
      op('(');
      save_items(v.toListRef(), depth);
      op('e');  // APPENDS
    } else if (v.isGenericDict()) {
      op('}');  // EMPTY_DICT
      op('(');
      for (const auto& entry : v.toGenericDict()) {
        const c10::IValue& key = entry.key();
        PSAM_CHECK(key.isString() || key.isInt(),
                   "pickle: dict keys must be strings or ints, got " + key.tagKind());
        save(key, depth + 1);
        save(entry.value(), depth + 1);
      }
      op('u');  // SETITEMS
    } else {
      fail("pickle: cannot write a value of type " + v.tagKind());
    }
  }

  const std::function<std::string(const at::Tensor&)>& add_storage_;
  std::string out_;
};

}  // namespace

std::string pickle(const c10::IValue& obj,
                   const std::function<std::string(const at::Tensor&)>& add_storage) {
  return Pickler(add_storage).run(obj);
}

}  // namespace psam::io
