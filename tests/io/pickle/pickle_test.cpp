// The unpickler on pickles Python's own pickle module and numpy write: every protocol, every
// numpy dtype and byte order, Python scalars and containers; and Python code globals refused
// without running anything.

#include <filesystem>

#include "io/io_testing.h"
#include "psam/io/pickle/pickle.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;
using psam::testing::torch_pickle_load;

c10::IValue read_numpy_pickle(const std::string& path) {
  psam::io::UnpickleOptions options;
  options.allow_numpy = true;
  return psam::io::read_pickle(path, options);
}

// numpy arrays of every supported dtype, in both byte orders, C and Fortran order, 0-d, empty,
// and numpy scalars, pickled with protocols 2-5; the reference is torch.save of the same values
// as native-order tensors, read with libtorch's own reader.
constexpr const char* kNumpyWriter = R"PY(
import pickle, sys, numpy as np, torch
out = sys.argv[1]
base = np.arange(24, dtype=np.float64) * 0.75 - 5
arrays = {}
for code in ["f2", "f4", "f8", "u1", "i1", "i2", "i4", "i8", "b1"]:
    a = (base > 0) if code == "b1" else base.astype(code)
    arrays["le_" + code] = a.reshape(2, 3, 4).astype("<" + code if code not in ("u1", "i1", "b1") else code)
    if code not in ("u1", "i1", "b1"):
        arrays["be_" + code] = a.reshape(4, 6).astype(">" + code)
arrays["fortran"] = np.asfortranarray(base.reshape(4, 6).astype(np.float32))
arrays["zero_d"] = np.array(3.25, dtype=np.float32)
arrays["empty"] = np.zeros((0, 5), dtype=np.int16)
arrays["strided"] = base.reshape(4, 6)[::2, 1::2]
arrays["scalar_f8"] = np.float64(-1.5)
arrays["scalar_i8"] = np.int64(-7)
arrays["scalar_b"] = np.bool_(True)
arrays["scalar_f4"] = np.float32(0.1)
for p in (2, 3, 4, 5):
    with open(f"{out}/p{p}.pkl", "wb") as f:
        pickle.dump(arrays, f, protocol=p)
def native(v):  # a C-order, native-byte-order copy (0-d stays 0-d)
    a = np.asarray(v)
    return torch.from_numpy(np.array(a.astype(a.dtype.newbyteorder("=")), order="C"))
ref = {k: native(v) for k, v in arrays.items()}
torch.save(ref, f"{out}/ref.pth")
)PY";

TEST(NumpyPickle, EveryDtypeByteOrderAndProtocolMatchesNumpy) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(kNumpyWriter, dir.path());
  const auto ref = torch_pickle_load(dir.file("ref.pth")).toGenericDict();
  ASSERT_GT(ref.size(), 20u);
  for (const char* name : {"p2.pkl", "p3.pkl", "p4.pkl", "p5.pkl"}) {
    SCOPED_TRACE(name);
    const auto got = read_numpy_pickle(dir.file(name)).toGenericDict();
    ASSERT_EQ(got.size(), ref.size());
    for (const auto& entry : ref) {
      const std::string& key = entry.key().toStringRef();
      ASSERT_TRUE(got.contains(key)) << key;
      EXPECT_TRUE(psam::testing::same_tensor(got.at(key).toTensor(), entry.value().toTensor()))
          << key;
    }
  }
}

TEST(NumpyPickle, RefusedUnlessEnabled) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(kNumpyWriter, dir.path());
  try {
    psam::io::read_pickle(dir.file("p2.pkl"));
    FAIL() << "numpy pickle read without allow_numpy";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find("numpy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("p2.pkl"), std::string::npos) << e.what();
  }
}

// The layout the Knegt LIDC pickle uses: key -> {'image', 'masks': [4 arrays], 'series_uid'}.
TEST(NumpyPickle, NestedDatasetPickle) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(R"PY(
import pickle, sys, numpy as np
rng = np.random.default_rng(0)
d = {}
for i in range(3):
    d[f"case{i}"] = {"image": rng.standard_normal((16, 16)).astype(np.float32),
                     "masks": [(rng.random((16, 16)) > 0.5).astype(np.uint8) for _ in range(4)],
                     "series_uid": f"1.2.3.{i}"}
for p in (2, 3, 4):
    pickle.dump(d, open(f"{sys.argv[1]}/k{p}.pkl", "wb"), protocol=p)
np.save(f"{sys.argv[1]}/image1.npy", d["case1"]["image"])
np.save(f"{sys.argv[1]}/mask2_3.npy", d["case2"]["masks"][3])
)PY",
                     dir.path());
  for (const char* name : {"k2.pkl", "k3.pkl", "k4.pkl"}) {
    SCOPED_TRACE(name);
    const auto d = read_numpy_pickle(dir.file(name)).toGenericDict();
    ASSERT_EQ(d.size(), 3u);
    const auto case1 = d.at("case1").toGenericDict();
    EXPECT_EQ(case1.at("series_uid").toStringRef(), "1.2.3.1");
    const at::Tensor img = case1.at("image").toTensor();
    EXPECT_EQ(img.scalar_type(), at::kFloat);
    // The reference .npy holds the same bytes after its 128-byte header.
    const std::string npy = psam::testing::read_bytes(dir.file("image1.npy"));
    ASSERT_EQ(npy.size(), 128 + img.nbytes());
    EXPECT_EQ(std::memcmp(npy.data() + 128, img.data_ptr(), img.nbytes()), 0);
    const auto masks = d.at("case2").toGenericDict().at("masks").toListRef();
    ASSERT_EQ(masks.size(), 4u);
    const std::string mask_npy = psam::testing::read_bytes(dir.file("mask2_3.npy"));
    EXPECT_EQ(std::memcmp(mask_npy.data() + 128, masks[3].toTensor().data_ptr(), 256), 0);
  }
}

// Python values of every kind through every protocol, compared with what Python reports.
TEST(PythonPickle, ScalarsAndContainersEveryProtocol) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(R"PY(
import collections, pickle, sys
shared = [1, 2]
obj = {"int": [0, 1, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**62, -2**63, 2**63 - 1],
       "float": [0.5, -1e300, float("inf")], "str": ["", "a", "\u00fc\u4e2d", "x" * 300],
       "bytes": [b"", b"\x00\xff" * 200], "bool": [True, False], "none": None,
       "tuple": (), "t1": (1,), "t2": (1, 2), "t3": (1, 2, 3), "t4": (1, 2, 3, 4),
       "set": {7}, "frozen": frozenset([8]), "shared": [shared, shared],
       "od": collections.OrderedDict([("b", 1), ("a", 2)]), 3: "int key", "nested": [[[[]]]]}
for p in (2, 3, 4, 5):
    pickle.dump(obj, open(f"{sys.argv[1]}/p{p}.pkl", "wb"), protocol=p)
)PY",
                     dir.path());
  for (const char* name : {"p2.pkl", "p3.pkl", "p4.pkl", "p5.pkl"}) {
    SCOPED_TRACE(name);
    psam::io::DictNotes notes;
    psam::io::UnpickleOptions options;
    options.notes = &notes;
    const auto d = psam::io::read_pickle(dir.file(name), options).toGenericDict();
    const std::vector<int64_t> ints{0,
                                    1,
                                    255,
                                    256,
                                    65535,
                                    65536,
                                    -1,
                                    INT32_MIN,
                                    int64_t{1} << 31,
                                    int64_t{1} << 62,
                                    INT64_MIN,
                                    INT64_MAX};
    std::vector<int64_t> got;
    for (const auto& v : d.at("int").toListRef()) got.push_back(v.toInt());
    EXPECT_EQ(got, ints);
    const auto floats = d.at("float").toListRef();
    EXPECT_EQ(floats[0].toDouble(), 0.5);
    EXPECT_EQ(floats[1].toDouble(), -1e300);
    EXPECT_TRUE(std::isinf(floats[2].toDouble()));
    const auto strs = d.at("str").toListRef();
    EXPECT_EQ(strs[2].toStringRef(), "\xc3\xbc\xe4\xb8\xad");
    EXPECT_EQ(strs[3].toStringRef(), std::string(300, 'x'));
    const auto bytes = d.at("bytes").toListRef();
    EXPECT_EQ(bytes[0].toStringRef(), "");
    std::string expected_bytes;
    for (int i = 0; i < 200; ++i) expected_bytes += std::string("\x00\xff", 2);
    EXPECT_EQ(bytes[1].toStringRef(), expected_bytes);
    EXPECT_TRUE(d.at("bool").toListRef()[0].toBool());
    EXPECT_TRUE(d.at("none").isNone());
    EXPECT_EQ(d.at("tuple").toTupleRef().elements().size(), 0u);
    EXPECT_EQ(d.at("t4").toTupleRef().elements()[3].toInt(), 4);
    EXPECT_EQ(d.at("set").toListRef()[0].toInt(), 7);
    EXPECT_EQ(d.at("frozen").toTupleRef().elements()[0].toInt(), 8);
    // The memo makes both entries one object, as in Python.
    const auto shared = d.at("shared").toListRef();
    EXPECT_TRUE(shared[0].is(shared[1]));
    const c10::IValue od = d.at("od");
    EXPECT_EQ(notes.python_type(od), "OrderedDict");
    EXPECT_EQ(od.toGenericDict().begin()->key().toStringRef(), "b");
    EXPECT_EQ(d.at(3).toStringRef(), "int key");
  }
}

// Python's own pickler produces the hostile files: __reduce__ to os.system, eval, subprocess,
// getattr. Each must be refused naming the global, and the command must not run.
TEST(PythonPickle, CodeGlobalsAreRefusedAndNothingRuns) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const std::string marker = dir.file("marker");
  PSAM_EXPECT_PYTHON(R"PY(
import builtins, os, pickle, subprocess, sys
out, marker = sys.argv[1:3]
class System:
    def __reduce__(self): return (os.system, (f"touch {marker}",))
class Eval:
    def __reduce__(self): return (builtins.eval, (f"open('{marker}', 'w')",))
class Popen:
    def __reduce__(self): return (subprocess.Popen, (["touch", marker],))
class GetAttr:
    def __reduce__(self): return (builtins.getattr, ("text", "upper"))
for name, obj in [("system", System()), ("eval", Eval()), ("popen", Popen()), ("getattr", GetAttr())]:
    for p in (2, 4, 5):
        pickle.dump({"weights": [1, 2], "payload": obj}, open(f"{out}/{name}{p}.pkl", "wb"), protocol=p)
)PY",
                     dir.path(), marker);
  // Protocol 2 writes Python 2 module names (__builtin__.eval, commands.Popen), so only the
  // function's own name is checked.
  const std::vector<std::pair<std::string, std::string>> cases{
      {"system", ".system' is not allowed"},
      {"eval", ".eval' is not allowed"},
      {"popen", ".Popen' is not allowed"},
      {"getattr", ".getattr' is not allowed"}};
  for (const auto& [name, global] : cases) {
    for (int p : {2, 4, 5}) {
      const std::string file = dir.file(name + std::to_string(p) + ".pkl");
      try {
        psam::io::UnpickleOptions options;
        options.allow_numpy = true;
        psam::io::read_pickle(file, options);
        ADD_FAILURE() << file << " was accepted";
      } catch (const psam::Error& e) {
        EXPECT_NE(std::string(e.what()).find(global), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_FALSE(std::filesystem::exists(marker));
}

// Every prefix of a real numpy pickle is an error, never a crash or a wrong success.
TEST(PythonPickle, EveryTruncationOfANumpyPickleIsAnError) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(R"PY(
import pickle, sys, numpy as np
d = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.int64(3), "l": [1, "x", (2.5,)]}
for p in (2, 4):
    pickle.dump(d, open(f"{sys.argv[1]}/p{p}.pkl", "wb"), protocol=p)
)PY",
                     dir.path());
  psam::io::UnpickleOptions options;
  options.allow_numpy = true;
  for (const char* name : {"p2.pkl", "p4.pkl"}) {
    const std::string bytes = psam::testing::read_bytes(dir.file(name));
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    EXPECT_NO_THROW(psam::io::unpickle(data, bytes.size(), {}, options));
    for (size_t n = 0; n < bytes.size(); ++n)
      EXPECT_THROW(psam::io::unpickle(data, n, {}, options), psam::Error) << name << " at " << n;
  }
}

}  // namespace
