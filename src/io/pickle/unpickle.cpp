// The pickle opcode interpreter: a loop over the byte stream with an explicit value stack, mark
// stack and memo. Every read is bounds-checked; what each allowed global means lives in
// pickle_globals.cpp, the conversion of the result to IValues in pickle_convert.cpp.
#include <fmt/format.h>

#include <cctype>
#include <cstring>

#include "io/mapped_file.h"
#include "io/pickle/pickle_objects.h"
#include "psam/io/pickle/pickle.h"
#include "psam/util/error.h"

namespace psam::io {
namespace pickle_detail {
namespace {

// Opcode bytes (Python's pickle.py names).
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  BINFLOAT = 'G',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  BINUNICODE = 'X',
  EMPTY_LIST = ']',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  APPENDS = 'e',
  BINGET = 'h',
  INST = 'i',
  LONG_BINGET = 'j',
  LIST = 'l',
  OBJ = 'o',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  SETITEMS = 'u',
  EMPTY_TUPLE = ')',
  EMPTY_DICT = '}',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  EXT1 = 0x82,
  EXT2 = 0x83,
  EXT4 = 0x84,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  EMPTY_SET = 0x8f,
  ADDITEMS = 0x90,
  FROZENSET = 0x91,
  NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
  BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97,
  READONLY_BUFFER = 0x98,
};

class Decoder {
 public:
  Decoder(Context& ctx, const uint8_t* data, size_t size) : ctx_(ctx), data_(data), size_(size) {}

  Value run() {
    while (true) {
      ctx_.offset = pos_;
      const uint8_t op = read_u8();
      if (op == STOP) return pop();
      step(op);
    }
  }

 private:
  // ---- input -------------------------------------------------------------------------------
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_)
      ctx_.fail(fmt::format("truncated: needs {} more bytes, {} left", n, size_ - pos_));
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint8_t read_u8() {
    if (pos_ >= size_) ctx_.fail("truncated: ends before the STOP opcode");
    return data_[pos_++];
  }
  template <typename T>
  T read_le() {
    const uint8_t* p = take(sizeof(T));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
    return v;
  }
  double read_f64_be() {
    const uint8_t* p = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::string_view read_text(uint64_t n) {
    return std::string_view(reinterpret_cast<const char*>(take(n)), static_cast<size_t>(n));
  }
  std::string read_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) ctx_.fail("truncated: GLOBAL name without a newline");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string line(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n + 1;
    return line;
  }
  // Little-endian two's complement of n bytes (LONG1 / LONG4), which must fit in 64 bits.
  int64_t read_long(uint64_t n) {
    const uint8_t* p = take(n);
    if (n == 0) return 0;
    const bool negative = (p[n - 1] & 0x80) != 0;
    for (uint64_t i = 8; i < n; ++i)
      if (p[i] != (negative ? 0xFF : 0x00)) ctx_.fail("integer does not fit in 64 bits");
    if (n > 8 && ((p[7] & 0x80) != 0) != negative) ctx_.fail("integer does not fit in 64 bits");
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (uint64_t i = 0; i < std::min<uint64_t>(n, 8); ++i) {
      v &= ~(uint64_t{0xFF} << (8 * i));
      v |= static_cast<uint64_t>(p[i]) << (8 * i);
    }
    return static_cast<int64_t>(v);
  }

  // ---- stack -------------------------------------------------------------------------------
  // Like Python, the values below the innermost MARK are out of reach until POP_MARK.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value v) { stack_.push_back(v); }
  Value pop() {
    if (stack_.size() <= floor()) ctx_.fail("stack underflow");
    Value v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= floor()) ctx_.fail("stack underflow");
    return stack_.back();
  }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) ctx_.fail("no MARK to pop to");
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                             stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Node& top_of(Kind kind, const char* op) {
    Value& v = top();
    if (v.kind() != kind) ctx_.fail(fmt::format("{} applied to a {}", op, describe(v)));
    return *v.node;
  }

  void push_text(Kind kind, std::string_view text) {
    Value v = ctx_.make_value(kind);
    v.node->text = text;
    push(v);
  }
  void push_items(Kind kind, std::vector<Value> items) {
    Value v = ctx_.make_value(kind);
    v.node->items = std::move(items);
    push(v);
  }
  void push_tuple_of_top(size_t n) {
    if (stack_.size() < floor() + n) ctx_.fail("stack underflow");
    std::vector<Value> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    push_items(Kind::kTuple, std::move(items));
  }
  void add_pairs(Node& dict, std::vector<Value> items) {
    if (items.size() % 2 != 0) ctx_.fail("SETITEMS with an odd number of items");
    dict.items.insert(dict.items.end(), items.begin(), items.end());
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) ctx_.fail(fmt::format("memo index {} is not defined", index));
    push(it->second);
  }
  Value global(const std::string& module, const std::string& name) {
    return resolve_global(ctx_, module, name);
  }

  // ---- one opcode --------------------------------------------------------------------------
  void step(uint8_t op) {
    switch (op) {
      case PROTO: {
        const uint8_t version = read_u8();
        if (version > 5) ctx_.fail(fmt::format("pickle protocol {} is newer than 5", version));
        break;
      }
      case FRAME:  // frames only group opcodes for buffered readers
        if (read_le<uint64_t>() > size_ - pos_) ctx_.fail("truncated: frame beyond the end");
        break;
      case MARK:
        marks_.push_back(stack_.size());
        break;
      case POP:
        if (stack_.size() > floor()) {
          stack_.pop_back();
        } else {
          pop_mark();
        }
        break;
      case POP_MARK:
        pop_mark();
        break;
      case DUP:
        push(top());
        break;

      case NONE:
        push(Value{});
        break;
      case NEWTRUE:
        push(Value{Kind::kBool, 1});
        break;
      case NEWFALSE:
        push(Value{Kind::kBool, 0});
        break;
      case BININT:
        push(Value{Kind::kInt, static_cast<int32_t>(read_le<uint32_t>())});
        break;
      case BININT1:
        push(Value{Kind::kInt, read_u8()});
        break;
      case BININT2:
        push(Value{Kind::kInt, read_le<uint16_t>()});
        break;
      case LONG1:
        push(Value{Kind::kInt, read_long(read_u8())});
        break;
      case LONG4: {
        const auto n = static_cast<int32_t>(read_le<uint32_t>());
        if (n < 0) ctx_.fail("LONG4 with a negative length");
        push(Value{Kind::kInt, read_long(static_cast<uint64_t>(n))});
        break;
      }
      case BINFLOAT:
        push(Value{Kind::kFloat, 0, read_f64_be()});
        break;

      case SHORT_BINUNICODE:
        push_text(Kind::kStr, read_text(read_u8()));
        break;
      case BINUNICODE:
        push_text(Kind::kStr, read_text(read_le<uint32_t>()));
        break;
      case BINUNICODE8:
        push_text(Kind::kStr, read_text(read_le<uint64_t>()));
        break;
      case SHORT_BINSTRING:
        push_text(Kind::kStr, read_text(read_u8()));
        break;  // Python 2 str
      case BINSTRING: {
        const auto n = static_cast<int32_t>(read_le<uint32_t>());
        if (n < 0) ctx_.fail("BINSTRING with a negative length");
        push_text(Kind::kStr, read_text(static_cast<uint64_t>(n)));
        break;
      }
      case SHORT_BINBYTES:
        push_text(Kind::kBytes, read_text(read_u8()));
        break;
      case BINBYTES:
        push_text(Kind::kBytes, read_text(read_le<uint32_t>()));
        break;
      case BINBYTES8:
      case BYTEARRAY8:
        push_text(Kind::kBytes, read_text(read_le<uint64_t>()));
        break;

      case EMPTY_LIST:
        push(ctx_.make_value(Kind::kList));
        break;
      case EMPTY_TUPLE:
        push(ctx_.make_value(Kind::kTuple));
        break;
      case EMPTY_DICT:
        push(ctx_.make_value(Kind::kDict));
        break;
      case EMPTY_SET:
        push(ctx_.make_value(Kind::kSet));
        break;
      case LIST:
        push_items(Kind::kList, pop_mark());
        break;
      case TUPLE:
        push_items(Kind::kTuple, pop_mark());
        break;
      case FROZENSET:
        push_items(Kind::kFrozenSet, pop_mark());
        break;
      case TUPLE1:
        push_tuple_of_top(1);
        break;
      case TUPLE2:
        push_tuple_of_top(2);
        break;
      case TUPLE3:
        push_tuple_of_top(3);
        break;
      case DICT: {
        Value d = ctx_.make_value(Kind::kDict);
        add_pairs(*d.node, pop_mark());
        push(d);
        break;
      }
      case APPEND: {
        const Value item = pop();
        top_of(Kind::kList, "APPEND").items.push_back(item);
        break;
      }
      case APPENDS: {
        auto items = pop_mark();
        auto& list = top_of(Kind::kList, "APPENDS").items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case SETITEM: {
        const Value value = pop();
        const Value key = pop();
        add_pairs(top_of(Kind::kDict, "SETITEM"), {key, value});
        break;
      }
      case SETITEMS: {
        auto items = pop_mark();
        add_pairs(top_of(Kind::kDict, "SETITEMS"), std::move(items));
        break;
      }
      case ADDITEMS: {
        auto items = pop_mark();
        auto& set = top_of(Kind::kSet, "ADDITEMS").items;
        set.insert(set.end(), items.begin(), items.end());
        break;
      }

      case BINPUT:
        memo_[read_u8()] = top();
        break;
      case LONG_BINPUT:
        memo_[read_le<uint32_t>()] = top();
        break;
      case MEMOIZE: {
        const Value v = top();
        memo_[memo_.size()] = v;
        break;
      }
      case BINGET:
        memo_get(read_u8());
        break;
      case LONG_BINGET:
        memo_get(read_le<uint32_t>());
        break;

      case GLOBAL: {
        const std::string module = read_line();
        const std::string name = read_line();
        push(global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        const Value name = pop();
        const Value module = pop();
        if (name.kind() != Kind::kStr || module.kind() != Kind::kStr)
          ctx_.fail("STACK_GLOBAL expects two str");
        push(global(std::string(module.node->text), std::string(name.node->text)));
        break;
      }
      case REDUCE: {
        const Value args = pop();
        Value& fn = top();
        fn = call(ctx_, fn, args);
        break;
      }
      case NEWOBJ: {
        const Value args = pop();
        const Value cls = pop();
        push(instantiate(ctx_, cls, args));
        break;
      }
      case NEWOBJ_EX: {
        const Value kwargs = pop();
        const Value args = pop();
        const Value cls = pop();
        if (kwargs.kind() != Kind::kDict || !kwargs.node->items.empty())
          ctx_.fail("NEWOBJ_EX with keyword arguments is not supported");
        push(instantiate(ctx_, cls, args));
        break;
      }
      case BUILD: {
        const Value state = pop();
        build(ctx_, top(), state);
        break;
      }
      case BINPERSID: {
        const Value pid = pop();
        push(load_persistent(ctx_, pid));
        break;
      }

      case INST:
      case OBJ:
        ctx_.fail("opcode INST/OBJ (create an arbitrary class instance) is not allowed");
      case EXT1:
      case EXT2:
      case EXT4:
        ctx_.fail("opcode EXT (copyreg extension registry) is not supported");
      case NEXT_BUFFER:
      case READONLY_BUFFER:
        ctx_.fail("out-of-band buffers (pickle protocol 5) are not supported");
      default:
        ctx_.fail(fmt::format(
            "unsupported opcode 0x{:02x}{} (protocol 0/1 text opcodes are not read)", op,
            std::isprint(op) ? fmt::format(" '{}'", static_cast<char>(op)) : std::string()));
    }
  }

  Context& ctx_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
};

}  // namespace
}  // namespace pickle_detail

namespace {

// input_owner keeps `data` alive for numpy arrays that view it (UnpickleOptions::numpy_views).
c10::IValue decode(const uint8_t* data, size_t size, const StorageLoader& storages,
                   const UnpickleOptions& options, std::shared_ptr<const void> input_owner) {
  const std::string& source = options.source.empty() ? std::string("pickle") : options.source;
  DictNotes notes;
  c10::IValue result;
  try {
    pickle_detail::Context ctx(options, storages);
    if (options.numpy_views) ctx.input_owner = std::move(input_owner);
    const pickle_detail::Value root = pickle_detail::Decoder(ctx, data, size).run();
    result = pickle_detail::to_ivalue(ctx, root, options.notes != nullptr ? &notes : nullptr);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    fail(source + ": " + what.substr(0, what.find('\n')));
  } catch (const std::bad_alloc&) {
    fail(source + ": out of memory while decoding the pickle");
  }
  if (options.notes != nullptr) *options.notes = std::move(notes);
  return result;
}

}  // namespace

c10::IValue unpickle(const uint8_t* data, size_t size, const StorageLoader& storages,
                     const UnpickleOptions& options) {
  return decode(data, size, storages, options, nullptr);
}

c10::IValue read_pickle(const std::string& path, UnpickleOptions options) {
  if (options.source.empty()) options.source = path;
  const auto file = MappedFile::open(path);
  return decode(file->data(), file->size(), {}, options, file);
}

}  // namespace psam::io
