// Hostile and damaged files: each must give one clear psam::Error, never a crash, a hang, a
// partial result or code execution. This file needs neither Python nor ../shared, and is built a
// second time under AddressSanitizer + UBSan (psam_asan_tests).
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/io_testing.h"
#include "psam/io/npy.h"
#include "psam/io/pickle/pickle.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;

// Builds pickles opcode by opcode, so tests can say exactly what a hostile file contains.
class PickleBuilder {
 public:
  PickleBuilder& proto(int v) { return raw("\x80").byte(v); }
  PickleBuilder& raw(const std::string& bytes) {
    s_ += bytes;
    return *this;
  }
  // Literals may hold NUL bytes, so their length comes from the array, not strlen.
  template <size_t N>
  PickleBuilder& raw(const char (&bytes)[N]) {
    s_.append(bytes, N - 1);
    return *this;
  }
  PickleBuilder& byte(int v) {
    s_ += static_cast<char>(v);
    return *this;
  }
  PickleBuilder& le32(uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<int>((v >> (8 * i)) & 0xFF));
    return *this;
  }
  PickleBuilder& str(const std::string& v) {
    return raw("X").le32(static_cast<uint32_t>(v.size())).raw(v);
  }
  PickleBuilder& short_str(const std::string& v) {
    return raw("\x8c").byte(static_cast<int>(v.size())).raw(v);
  }
  PickleBuilder& integer(int64_t v) {  // LONG1 with 8 bytes holds any int64
    raw("\x8a").byte(8);
    for (int i = 0; i < 8; ++i)
      byte(static_cast<int>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
    return *this;
  }
  PickleBuilder& global(const std::string& module, const std::string& name) {
    return raw("c" + module + "\n" + name + "\n");
  }
  PickleBuilder& ints(const std::vector<int64_t>& values) {
    raw("(");
    for (int64_t v : values) integer(v);
    return raw("t");
  }
  // _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', numel), offset, size, stride,
  // False, OrderedDict()), as torch.save writes a float tensor.
  PickleBuilder& tensor(int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                        const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").raw("((").str("storage");
    global("torch", "FloatStorage").str("0").str("cpu").integer(numel).raw("tQ");
    integer(offset).ints(size).ints(stride).raw("\x89");
    return global("collections", "OrderedDict").raw(")RtR");
  }
  std::string done() { return s_ + "."; }
  const std::string& bytes() const { return s_; }

 private:
  std::string s_;
};

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

c10::IValue unpickle(const std::string& bytes, const psam::io::StorageLoader& loader = {},
                     bool allow_numpy = false) {
  psam::io::UnpickleOptions options;
  options.allow_numpy = allow_numpy;
  options.source = "test.pkl";
  return psam::io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), loader,
                            options);
}

void expect_pickle_error(const std::string& bytes, const std::string& needle,
                         const psam::io::StorageLoader& loader = {}, bool allow_numpy = false) {
  expect_error([&] { unpickle(bytes, loader, allow_numpy); }, needle);
}

// A loader handing out float storages of `numel` elements, whatever the pickle claims.
psam::io::StorageLoader float_storages(int64_t numel) {
  return [numel](const psam::io::StorageRequest&) { return at::zeros({numel}).storage(); };
}

// ---- code execution ----------------------------------------------------------------------------

TEST(BadPickle, CodeGlobalsAreRefusedAndNothingRuns) {
  TempDir dir;
  const std::string marker = dir.file("marker");
  const std::vector<std::pair<std::string, std::string>> globals{{"posix", "system"},
                                                                 {"nt", "system"},
                                                                 {"os", "system"},
                                                                 {"builtins", "eval"},
                                                                 {"__builtin__", "eval"},
                                                                 {"builtins", "exec"},
                                                                 {"builtins", "getattr"},
                                                                 {"builtins", "__import__"},
                                                                 {"subprocess", "Popen"},
                                                                 {"subprocess", "check_output"},
                                                                 {"torch", "load"},
                                                                 {"numpy", "load"},
                                                                 {"torch.serialization", "load"},
                                                                 {"pickle", "loads"},
                                                                 {"collections", "namedtuple"}};
  for (const auto& [module, name] : globals) {
    const std::string full = "'" + module + "." + name + "'";
    // GLOBAL (protocols 0-3) and STACK_GLOBAL (protocol 4+) spellings.
    const std::string classic =
        PickleBuilder().proto(2).global(module, name).str("touch " + marker).raw("\x85R").done();
    const std::string stacked = PickleBuilder()
                                    .proto(4)
                                    .short_str(module)
                                    .short_str(name)
                                    .raw("\x93")
                                    .str("touch " + marker)
                                    .raw("\x85R")
                                    .done();
    for (bool numpy : {false, true}) {
      expect_pickle_error(classic, full, {}, numpy);
      expect_pickle_error(stacked, full, {}, numpy);
    }
  }
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(BadPickle, InstanceCreationOpcodesAreRefused) {
  expect_pickle_error(PickleBuilder().raw("(iposix\nsystem\n").done(), "INST/OBJ");
  expect_pickle_error(PickleBuilder().raw("(cposix\nsystem\no").done(), "'posix.system'");
  expect_pickle_error(PickleBuilder().proto(2).raw("\x82\x01").done(), "EXT");
  expect_pickle_error(PickleBuilder().proto(5).raw("\x97").done(), "out-of-band");
  // An allowed class may still not be instantiated unless it is data.
  expect_pickle_error(
      PickleBuilder().proto(2).global("torch._utils", "_rebuild_tensor_v2").raw(")\x81").done(),
      "not allowed");
  // Calling a storage type or a tensor type is not a data constructor.
  expect_pickle_error(PickleBuilder().proto(2).global("torch", "FloatStorage").raw(")R").done(),
                      "not allowed");
}

// ---- structure ---------------------------------------------------------------------------------

TEST(BadPickle, DeepNestingIsAnErrorNotAStackOverflow) {
  const int n = 100000;
  // EMPTY_LIST x n then APPEND x (n-1): [[[...]]].
  expect_pickle_error(
      PickleBuilder().proto(2).raw(std::string(n, ']')).raw(std::string(n - 1, 'a')).done(),
      "nested deeper than 1000");
  // MARK x n then LIST x n, and the same with tuples and dicts of dicts.
  expect_pickle_error(PickleBuilder().raw(std::string(n, '(')).raw(std::string(n, 'l')).done(),
                      "nested deeper");
  expect_pickle_error(PickleBuilder().raw(std::string(n, '(')).raw(std::string(n, 't')).done(),
                      "nested deeper");
  // d1[1] = d2, d2[1] = d3, ...
  PickleBuilder dicts;
  dicts.proto(2).raw("}");
  for (int i = 1; i < n; ++i) dicts.raw("K\x01}");
  for (int i = 1; i < n; ++i) dicts.raw("s");
  expect_pickle_error(dicts.done(), "nested deeper");
  // 1000 levels are fine.
  EXPECT_NO_THROW(unpickle(
      PickleBuilder().proto(2).raw(std::string(999, ']')).raw(std::string(998, 'a')).done()));
}

TEST(BadPickle, ReferenceCyclesAreRefused) {
  // l = []; l.append(l)
  expect_pickle_error(PickleBuilder()
                          .proto(2)
                          .raw("]q\x00h\x00"
                               "a")
                          .done(),
                      "reference cycle");
  // d = {}; d['self'] = [d]
  expect_pickle_error(PickleBuilder()
                          .proto(2)
                          .raw("}q\x00")
                          .str("self")
                          .raw("]h\x00"
                               "as")
                          .done(),
                      "reference cycle");
}

TEST(BadPickle, SharedSubobjectsConvertOnce) {
  // a = []; b1 = [a, a]; b2 = [b1, b1]; ... 60 levels: 2^60 paths, 61 objects.
  PickleBuilder p;
  p.proto(2).raw("]q\x00");
  for (int i = 1; i <= 60; ++i)
    p.raw("]q").byte(i).raw("(h").byte(i - 1).raw("h").byte(i - 1).raw("e");
  const c10::IValue v = unpickle(p.done());
  c10::IValue level = v;
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(level.toListRef().size(), 2u);
    EXPECT_TRUE(level.toListRef()[0].is(level.toListRef()[1]));
    level = level.toListRef()[0];
  }
  EXPECT_EQ(level.toListRef().size(), 0u);
}

TEST(BadPickle, MemoIndicesAreChecked) {
  expect_pickle_error(PickleBuilder().proto(2).raw("h\x05").done(), "memo index 5");
  expect_pickle_error(PickleBuilder().proto(2).raw("j\xff\xff\xff\xff").done(),
                      "memo index 4294967295");
  expect_pickle_error(PickleBuilder().proto(2).raw("NqAh\x01").done(), "memo index 1");
  // BINPUT with nothing on the stack.
  expect_pickle_error(PickleBuilder().proto(2).raw("q\x00").done(), "stack underflow");
}

TEST(BadPickle, MalformedOpcodeStreams) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {PickleBuilder().proto(6).done(), "protocol 6"},
      {PickleBuilder().proto(2).raw("\xff").done(), "unsupported opcode 0xff"},
      {PickleBuilder().proto(2).raw("I1\n").done(), "unsupported opcode 0x49 'I'"},
      {PickleBuilder().proto(2).raw("a").done(), "stack underflow"},
      {PickleBuilder().proto(2).done(), "stack underflow"},
      {PickleBuilder().proto(2).raw("]K\x01(").raw("a").done(), "stack underflow"},  // below MARK
      {PickleBuilder().proto(2).raw("}K\x01").raw("a").done(), "APPEND applied to a dict"},
      {PickleBuilder().proto(2).raw("}(K\x01u").done(), "odd number"},
      {PickleBuilder().proto(2).raw("1").done(), "no MARK"},
      {PickleBuilder().proto(2).raw("](K\x01R").done(), "stack underflow"},
      {PickleBuilder().proto(2).raw("]K\x01\x85R").done(), "REDUCE calls list"},
      {PickleBuilder().proto(2).raw("]}b").done(), "BUILD of list"},
      {PickleBuilder().proto(2).raw("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00").done(),
       "64 bits"},
      {PickleBuilder().proto(2).raw("\x8b\xff\xff\xff\xff").done(), "negative length"},
      {PickleBuilder()
           .proto(2)
           .raw("X\x10\x00\x00\x00"
                "abc")
           .done(),
       "truncated"},
      {PickleBuilder().proto(4).raw("\x95\xff\xff\xff\xff\x00\x00\x00\x00N").done(),
       "frame beyond"},
      {PickleBuilder().proto(2).raw("cposix").done(), "without a newline"},
      {PickleBuilder().proto(4).raw("K\x01K\x02\x93").done(), "STACK_GLOBAL expects two str"},
      {PickleBuilder().proto(2).raw("(K\x01K\x02tQ").done(), "plain pickle"},
      {PickleBuilder().proto(2).global("collections", "OrderedDict").raw("K\x01\x85R").done(),
       "expects 0 arguments, got 1"},
      {PickleBuilder()
           .proto(2)
           .global("_codecs", "encode")
           .str("\xe4\xb8\xad")
           .str("latin1")
           .raw("\x86R")
           .done(),
       "not latin-1"},
      {PickleBuilder()
           .proto(2)
           .global("_codecs", "encode")
           .str("x")
           .str("utf8")
           .raw("\x86R")
           .done(),
       "encoding 'utf8'"},
      {PickleBuilder().proto(2).global("torch", "FloatStorage").done(), "not data"},
  };
  for (const auto& [bytes, needle] : cases) expect_pickle_error(bytes, needle);
}

TEST(BadPickle, DictKeysThatCannotBeHashed) {
  // {[]: 2}: Python cannot build it, a hostile pickle can; IValue dicts cannot hold it.
  expect_pickle_error(PickleBuilder().proto(2).raw("}]K\x02s").done(), "dict key of type list");
}

// ---- tensors -----------------------------------------------------------------------------------

TEST(BadPickle, TensorsMustFitTheirStorage) {
  auto tensor = [](int64_t numel, int64_t offset, std::vector<int64_t> size,
                   std::vector<int64_t> stride) {
    return PickleBuilder().proto(2).tensor(numel, offset, size, stride).done();
  };
  // Fits exactly: 4x4 view of 16 elements; a view at offset 10 of 2 elements with stride 3.
  EXPECT_EQ(unpickle(tensor(16, 0, {4, 4}, {4, 1}), float_storages(16)).toTensor().numel(), 16);
  EXPECT_EQ(unpickle(tensor(13, 10, {2}, {2}), float_storages(13)).toTensor().storage_offset(), 10);
  EXPECT_EQ(unpickle(tensor(1, 0, {5, 5}, {0, 0}), float_storages(1)).toTensor().numel(), 25);
  expect_pickle_error(tensor(15, 0, {4, 4}, {4, 1}), "needs 16 elements, its storage has 15",
                      float_storages(15));
  expect_pickle_error(tensor(16, 1, {4, 4}, {4, 1}), "needs 17 elements", float_storages(16));
  expect_pickle_error(tensor(16, 0, {4, 4}, {1, 5}), "needs 19 elements", float_storages(16));
  expect_pickle_error(tensor(16, 0, {2, 2}, {-1, 1}), "negative tensor stride", float_storages(16));
  expect_pickle_error(tensor(16, 0, {-2, 2}, {1, 1}), "negative size", float_storages(16));
  expect_pickle_error(tensor(16, -1, {2}, {1}), "offset -1 outside", float_storages(16));
  expect_pickle_error(tensor(16, 17, {0}, {1}), "offset 17 outside", float_storages(16));
  expect_pickle_error(tensor(16, 0, {2, 2}, {1}), "2 sizes but 1 strides", float_storages(16));
  expect_pickle_error(tensor(16, 0, {2, 2}, {INT64_MAX, 1}), "overflows", float_storages(16));
  expect_pickle_error(tensor(16, 0, {INT64_MAX, INT64_MAX}, {1, 1}), "overflows",
                      float_storages(16));
  // The loader's storage must hold what the persistent id claims.
  expect_pickle_error(tensor(16, 0, {16}, {1}), "storage 0 has 60 bytes, the pickle needs 64",
                      float_storages(15));
  expect_pickle_error(tensor(-1, 0, {1}, {1}), "claims -1 elements", float_storages(16));
  expect_pickle_error(tensor(INT64_MAX, 0, {1}, {1}), "claims", float_storages(16));
}

// Every prefix of a torch-style pickle holding tensors, and every single-byte corruption of it,
// is either decoded or refused with a psam::Error.
TEST(BadPickle, EveryTruncationAndByteFlipOfATensorPickle) {
  std::map<std::string, at::Tensor> records;
  c10::impl::GenericDict obj(c10::StringType::get(), c10::AnyType::get());
  obj.insert("w", at::arange(12, at::kFloat).reshape({3, 4}));
  obj.insert("meta", c10::ivalue::Tuple::create({1, "x", 2.5, c10::IValue()}));
  obj.insert("mask", at::ones({2, 2}, at::kBool));
  const std::string bytes = psam::io::pickle(c10::IValue(obj), [&](const at::Tensor& t) {
    const std::string key = std::to_string(records.size());
    records[key] = t;
    return key;
  });
  const psam::io::StorageLoader loader = [&](const psam::io::StorageRequest& r) {
    auto it = records.find(r.key);
    PSAM_CHECK(it != records.end(), "no record " + r.key);
    return it->second.storage();
  };
  const auto back = unpickle(bytes, loader).toGenericDict();
  EXPECT_TRUE(psam::testing::same_tensor(back.at("w").toTensor(), obj.at("w").toTensor()));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(unpickle(bytes.substr(0, n), loader), psam::Error) << "prefix " << n;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int flip : {0x01, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      try {
        unpickle(bad, loader);
      } catch (const psam::Error&) {
      }
    }
  }
}

// A protocol-3 pickle of numpy.ndarray((2,), descr) with raw bytes `data`, after `pad` bytes of
// a discarded string.
std::string numpy_array_pickle(const std::string& descr, const std::string& data, size_t pad = 0) {
  return PickleBuilder()
      .proto(3)
      .str(std::string(pad, 'x'))  // shifts where the array data lands
      .raw("0")                    // POP
      .global("numpy.core.multiarray", "_reconstruct")
      .global("numpy", "ndarray")
      .integer(0)
      .raw("\x85")
      .raw(
          "C\x01"
          "b")
      .raw("\x87R")
      .raw("(")
      .integer(1)
      .integer(2)
      .raw("\x85")
      .global("numpy", "dtype")
      .str(descr)
      .raw("\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
      .raw("\x89")
      .raw("B")
      .le32(static_cast<uint32_t>(data.size()))
      .raw(data)
      .raw("tb")
      .done();
}

TEST(BadPickle, NumpyArraysAreValidated) {
  const auto array = [](const std::string& descr, const std::string& data) {
    return numpy_array_pickle(descr, data);
  };
  const c10::IValue ok = unpickle(array("f4", std::string(8, '\0')), {}, true);
  EXPECT_EQ(ok.toTensor().sizes(), (std::vector<int64_t>{2}));
  expect_pickle_error(array("f4", std::string(7, '\0')), "needs 2 items of 4 bytes, has 7 bytes",
                      {}, true);
  expect_pickle_error(array("O8", std::string(16, '\0')), "numpy dtype 'O8' is not supported", {},
                      true);
  expect_pickle_error(array("u4", std::string(8, '\0')), "numpy dtype 'u4'", {}, true);
  expect_pickle_error(array("f4", std::string(8, '\0')), "numpy arrays are not enabled");
}

// read_pickle with numpy_views: arrays view the mapped file only where their data is
// element-aligned (else they are copies), and a short data block is still an error.
TEST(BadPickle, NumpyViewsOfAMappedFile) {
  TempDir dir;
  const float values[2] = {1.5f, -2.0f};
  const std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  psam::io::UnpickleOptions options;
  options.allow_numpy = true;
  options.numpy_views = true;
  int views = 0;
  for (size_t pad = 0; pad < 4; ++pad) {
    const std::string path = dir.file("a" + std::to_string(pad) + ".pkl");
    std::ofstream(path, std::ios::binary) << numpy_array_pickle("f4", data, pad);
    const at::Tensor t = psam::io::read_pickle(path, options).toTensor();
    EXPECT_TRUE(at::equal(t, at::tensor({1.5f, -2.0f}))) << pad;
    if (!t.storage().resizable()) {
      ++views;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % sizeof(float), 0u) << pad;
    }
  }
  EXPECT_EQ(views, 1);  // one of the four paddings puts the data on a 4-byte boundary
  const std::string short_path = dir.file("short.pkl");
  std::ofstream(short_path, std::ios::binary) << numpy_array_pickle("f4", std::string(7, '\0'), 1);
  expect_error([&] { psam::io::read_pickle(short_path, options); },
               "needs 2 items of 4 bytes, has 7 bytes");
}

// ---- containers on disk ------------------------------------------------------------------------

std::string small_pth(const TempDir& dir) {
  psam::io::TensorDict t;
  t.insert("a", at::arange(64, at::kFloat));
  t.insert("b", at::ones({3, 3}, at::kHalf));
  const std::string path = dir.file("small.pth");
  psam::io::write_pth(path, t);
  return path;
}

TEST(BadPth, TruncatedArchives) {
  TempDir dir;
  const std::string good = psam::testing::read_bytes(small_pth(dir));
  const std::string path = dir.file("cut.pth");
  for (size_t n : {size_t{0}, size_t{3}, size_t{4}, size_t{30}, size_t{100}, good.size() / 2,
                   good.size() - 22, good.size() - 1}) {
    psam::testing::write_bytes(path, good.substr(0, n));
    EXPECT_THROW(psam::io::read_pth(path), psam::Error) << "length " << n;
  }
}

TEST(BadPth, CorruptedArchivesNeverCrash) {
  TempDir dir;
  const std::string good = psam::testing::read_bytes(small_pth(dir));
  const std::string path = dir.file("flipped.pth");
  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    for (int k = 0; k < 1 + trial % 4; ++k)
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    psam::testing::write_bytes(path, bad);
    try {
      psam::io::read_tensors(path);
    } catch (const psam::Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);  // most flips hit checksummed data or structure
}

TEST(BadPth, WrongKindsOfFile) {
  TempDir dir;
  const std::string path = dir.file("x.pth");
  psam::testing::write_bytes(path, "hello, not a checkpoint");
  expect_error([&] { psam::io::read_pth(path); }, "not a torch zip archive");
  psam::testing::write_bytes(path, "");
  expect_error([&] { psam::io::read_pth(path); }, "not a torch zip archive");
  // The legacy format begins with a pickled magic number.
  psam::testing::write_bytes(
      path, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
  expect_error([&] { psam::io::read_pth(path); }, "legacy torch.save format");
  expect_error([&] { psam::io::read_pth(dir.path()); }, "not a regular file");
  expect_error([&] { psam::io::read_pth(dir.file("missing.pth")); }, "no such file");
  expect_error([&] { psam::io::read_tensors(dir.file("missing.pth")); }, "no such file");
}

void write_zip(const std::string& path,
               const std::vector<std::pair<std::string, std::string>>& records) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  for (const auto& [name, data] : records) writer.writeRecord(name, data.data(), data.size());
  writer.writeEndOfFile();
}

TEST(BadPth, ArchivesWithTheWrongRecords) {
  TempDir dir;
  const std::string path = dir.file("x.pt");
  write_zip(path, {{"data.pkl", PickleBuilder().proto(2).raw("N").done()}, {"constants.pkl", ""}});
  expect_error([&] { psam::io::read_pth(path); }, "TorchScript");
  write_zip(path, {{"other.pkl", ""}});
  expect_error([&] { psam::io::read_pth(path); }, "without data.pkl");
  write_zip(path, {{"data.pkl", PickleBuilder().proto(2).tensor(4, 0, {4}, {1}).done()}});
  expect_error([&] { psam::io::read_pth(path); }, "record data/0 is missing");
  write_zip(path, {{"data.pkl", PickleBuilder().proto(2).tensor(4, 0, {4}, {1}).done()},
                   {"data/0", std::string(12, '\0')}});
  expect_error([&] { psam::io::read_pth(path); }, "storage 0 has 12 bytes, the pickle needs 16");
  write_zip(path, {{"data.pkl", PickleBuilder().proto(2).global("posix", "system").done()}});
  expect_error([&] { psam::io::read_pth(path); }, "'posix.system' is not allowed");
}

// ---- safetensors -------------------------------------------------------------------------------

std::string safetensors_file(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

TEST(BadSafetensors, HeadersAndOffsetsAreValidated) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const std::string data(32, '\0');
  auto expect = [&](const std::string& file, const std::string& needle) {
    psam::testing::write_bytes(path, file);
    expect_error([&] { psam::io::read_safetensors(path); }, needle);
  };
  const std::string good = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  psam::testing::write_bytes(path, safetensors_file(good, data));
  EXPECT_EQ(psam::io::read_safetensors(path).tensors.at("a").sizes(), (std::vector<int64_t>{2, 2}));

  std::string beyond = safetensors_file(good, data);
  beyond[5] = '\x01';  // header length ~2^40
  expect(beyond, "goes beyond the end of the file");
  expect(std::string("\x05\x00\x00", 3), "too short");
  expect(safetensors_file("{not json", data), "not valid JSON");
  expect(safetensors_file("[1,2]", data), "must be a JSON object");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,40]}})", data),
         "outside the 32 bytes");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", data),
         "needs 16 bytes, data_offsets give 12");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                          R"("b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})",
                          data),
         "overlap");
  expect(safetensors_file(R"({"a":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", data),
         "dtype C64 is not supported");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data),
         "non-negative integer");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[2]}})", data), "data_offsets");
  expect(safetensors_file(R"({"__metadata__":{"k":1}})", data), "not a string");
  expect(safetensors_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                          R"("data_offsets":[0,16]}})",
                          data),
         "overflows");
}

// ---- npy ---------------------------------------------------------------------------------------

std::string npy_file(const std::string& dict, const std::string& data) {
  std::string header = dict;
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

TEST(BadNpy, HeadersAndSizesAreValidated) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  auto expect = [&](const std::string& file, const std::string& needle) {
    psam::testing::write_bytes(path, file);
    expect_error([&] { psam::io::read_npy(path); }, needle);
  };
  const std::string data(16, '\0');
  psam::testing::write_bytes(
      path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", data));
  EXPECT_EQ(psam::io::read_npy(path).sizes(), (std::vector<int64_t>{2, 2}));
  expect("PK\x03\x04 not npy", "no \\x93NUMPY magic");
  expect(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data),
         "truncated: shape (2, 3) needs 24 data bytes, the file has 16");
  expect(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data), "Fortran");
  expect(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data),
         "expected a string");
  expect(npy_file("{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }", data),
         "dtype '<U4' is not supported");
  expect(npy_file("{'descr': '<f4', 'shape': (2, 2), }", data),
         "needs descr, fortran_order and shape");
  expect(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", data),
         "expected a dimension");
  expect(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                  data),
         "dimension too large");
  expect(npy_file("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", data),
         "expected True or False");
  std::string big_header =
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data);
  big_header[8] = '\xff';
  big_header[9] = '\xff';
  expect(big_header, "truncated .npy header");
  std::string v9 = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data);
  v9[6] = '\x09';
  expect(v9, "format version 9");
}

}  // namespace

// ---- hostile sizes -----------------------------------------------------------------------------

// Sets the 4-byte little-endian field at `at` of the zip central-directory entry of the record
// whose name ends with `suffix`.
void patch_directory(std::string& zip, const std::string& suffix, size_t at, uint32_t value) {
  for (size_t e = zip.find("PK\x01\x02"); e != std::string::npos; e = zip.find("PK\x01\x02", e + 1)) {
    const size_t name_size = static_cast<uint8_t>(zip[e + 28]) | static_cast<uint8_t>(zip[e + 29]) << 8;
    const std::string name = zip.substr(e + 46, name_size);
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix))
      continue;
    for (int i = 0; i < 4; ++i) zip[e + at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    return;
  }
  FAIL() << "no record ending in " << suffix;
}

// Headers and directories that claim terabytes are refused from what the file holds, before
// anything of that size is allocated.
TEST(HostileSizes, ClaimsOfTeraElementTensorsAreRefused) {
  TempDir dir;
  const std::string data(16, '\0');
  const std::string npy = dir.file("x.npy");
  psam::testing::write_bytes(
      npy, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", data));
  expect_error([&] { psam::io::read_npy(npy); },
               "shape (1000000, 1000000) needs 4000000000000 data bytes, the file has 16");

  const std::string st = dir.file("x.safetensors");
  psam::testing::write_bytes(
      st, safetensors_file(
              R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,16]}})", data));
  expect_error([&] { psam::io::read_safetensors(st); }, "needs 4000000000000 bytes");

  // A pickle whose storage claims 10^12 floats, with 64 bytes in its record.
  const std::string pth = dir.file("x.pth");
  write_zip(pth, {{"data.pkl", PickleBuilder().proto(2).tensor(1000000000000, 0, {4}, {1}).done()},
                  {"data/0", std::string(64, '\0')}});
  expect_error([&] { psam::io::read_pth(pth); },
               "storage 0 has 64 bytes, the pickle needs 4000000000000");

  // The zip directory itself claiming a 4 GB record (libtorch's reader would allocate it).
  const std::string good = psam::testing::read_bytes(small_pth(dir));
  std::string stored = good;
  patch_directory(stored, "data/0", 24, 0xFFFFFFF0u);  // uncompressed size only
  psam::testing::write_bytes(pth, stored);
  expect_error([&] { psam::io::read_pth(pth); }, "is stored uncompressed but claims 4294967280");
  std::string beyond = good;
  patch_directory(beyond, "data/0", 20, 0xFFFFFFF0u);
  patch_directory(beyond, "data/0", 24, 0xFFFFFFF0u);
  psam::testing::write_bytes(pth, beyond);
  expect_error([&] { psam::io::read_pth(pth); }, "claims 4294967280 bytes at byte");
  std::string deflated = good;  // method 8 with a ratio no deflate stream reaches
  deflated[deflated.find("PK\x01\x02") + 10] = 8;
  patch_directory(deflated, "data.pkl", 24, 0xFFFFFFF0u);
  psam::testing::write_bytes(pth, deflated);
  expect_error([&] { psam::io::read_pth(pth); }, "more than deflate can give");
}
