// .pth reading against PyTorch itself: golden checkpoints and files Python writes must give the
// tensors (values, dtypes, views, shared storages) Python sees; files psam writes must load in
// Python with torch.load(weights_only=True).

#include <nlohmann/json.hpp>

#include "io/io_testing.h"
#include "psam/io/pth.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;
using psam::testing::torch_pickle_load;

// Dumps what Python sees in a .pth: every tensor flattened the way psam flattens (dict keys
// joined by '.', list/tuple items by index) as contiguous copies into a plain-dict reference
// file, plus each tensor's view (shape, strides, offset) and storage-sharing group.
constexpr const char* kDumpScript = R"PY(
import json, sys, torch
src, ref, meta = sys.argv[1:4]
# The test wrote this file itself; weights_only (default from 2.6) refuses pickle protocols 4 and 5.
obj = torch.load(src, weights_only=False)
flat = {}
def walk(o, p):
    if isinstance(o, torch.Tensor):
        flat[p] = o
    elif isinstance(o, dict):
        for k, v in o.items(): walk(v, f"{p}.{k}" if p else str(k))
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o): walk(v, f"{p}.{i}" if p else str(i))
walk(obj, "")
groups, info = {}, {}
for k, t in flat.items():
    # Empty storages have no address to share.
    key = t.storage().data_ptr() if t.storage().nbytes() else ("empty", k)
    g = groups.setdefault(key, len(groups))
    info[k] = dict(shape=list(t.shape), stride=list(t.stride()), offset=t.storage_offset(),
                   group=g)
torch.save({k: t.detach().contiguous().clone() for k, t in flat.items()}, ref)
json.dump({"order": list(flat), "tensors": info}, open(meta, "w"))
)PY";

// psam's reading of `file` equals Python's: same tensor names in the same order, bitwise-equal
// values (checked against torch::pickle_load of Python's contiguous copies), same strides and
// storage offsets, and tensors share a storage exactly when they did in Python.
void expect_reads_like_python(const std::string& file) {
  TempDir dir;
  const std::string ref_path = dir.file("ref.pth"), meta_path = dir.file("meta.json");
  PSAM_EXPECT_PYTHON(kDumpScript, file, ref_path, meta_path);
  const auto meta = nlohmann::json::parse(psam::testing::read_bytes(meta_path));
  const auto ref = torch_pickle_load(ref_path).toGenericDict();

  const psam::io::TensorDict flat = psam::io::flatten_tensors(psam::io::read_pth(file));
  ASSERT_EQ(flat.keys(), meta["order"].get<std::vector<std::string>>()) << file;
  std::map<int, at::Tensor> first_of_group;
  for (const auto& [name, t] : flat) {
    SCOPED_TRACE(file + ": " + name);
    const auto& m = meta["tensors"][name];
    EXPECT_TRUE(psam::testing::same_tensor(t, ref.at(name).toTensor()));
    EXPECT_EQ(t.strides().vec(), m["stride"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.storage_offset(), m["offset"].get<int64_t>());
    const int group = m["group"].get<int>();
    for (const auto& [g, other] : first_of_group)
      EXPECT_EQ(t.storage().is_alias_of(other.storage()), g == group) << "group " << g;
    first_of_group.emplace(group, t);
  }
}

std::string golden(const std::string& name) { return psam::testing::golden_dir() + "/" + name; }

TEST(GoldenPth, SamTinyReadsLikePython) {
  PSAM_REQUIRE_GOLDEN();
  PSAM_REQUIRE_PYTHON();
  expect_reads_like_python(golden("sam_tiny.pth"));
}

TEST(GoldenPth, SamTinyIsAStateDictWithMetadata) {
  PSAM_REQUIRE_GOLDEN();
  psam::io::DictNotes notes;
  const c10::IValue obj = psam::io::read_pth(golden("sam_tiny.pth"), &notes);
  EXPECT_EQ(notes.python_type(obj), "OrderedDict with _metadata");
  const auto metadata = notes.metadata.at(obj.internalToPointer()).toGenericDict();
  // The root module and its submodules each carry a version entry.
  EXPECT_EQ(metadata.at("").toGenericDict().at("version").toInt(), 1);
  EXPECT_TRUE(metadata.contains("image_encoder.blocks.0.attn"));
  const auto tensors = psam::io::flatten_tensors(obj);
  EXPECT_EQ(tensors.size(), 202u);
  EXPECT_EQ(tensors.at("image_encoder.pos_embed").sizes(), (std::vector<int64_t>{1, 8, 8, 64}));
}

TEST(GoldenPth, ProbSamTinyReadsLikePython) {
  PSAM_REQUIRE_GOLDEN();
  PSAM_REQUIRE_PYTHON();
  expect_reads_like_python(golden("probsam_tiny.pth"));
  psam::io::DictNotes notes;
  const c10::IValue obj = psam::io::read_pth(golden("probsam_tiny.pth"), &notes);
  EXPECT_EQ(notes.python_type(obj), "dict");
  for (const char* part : {"prior", "posterior", "z_projector"})
    EXPECT_EQ(notes.python_type(obj.toGenericDict().at(part)), "OrderedDict with _metadata")
        << part;
}

// io_tiny.pth and metrics_cases.pth are plain dicts, which libtorch's own reader also reads:
// both readers must agree on values and views.
TEST(GoldenPth, PlainDictsMatchTorchPickleLoad) {
  PSAM_REQUIRE_GOLDEN();
  for (const char* name : {"io_tiny.pth", "metrics_cases.pth"}) {
    SCOPED_TRACE(name);
    const auto ours = psam::io::flatten_tensors(psam::io::read_pth(golden(name)));
    const auto theirs = psam::io::flatten_tensors(torch_pickle_load(golden(name)));
    ASSERT_EQ(ours.keys(), theirs.keys());
    ASSERT_GT(ours.size(), 40u);
    for (const auto& [key, t] : ours) {
      const at::Tensor& r = theirs.at(key);
      EXPECT_TRUE(psam::testing::same_tensor(t, r)) << key;
      EXPECT_EQ(t.strides(), r.strides()) << key;
      EXPECT_EQ(t.storage_offset(), r.storage_offset()) << key;
    }
  }
}

TEST(GoldenPth, PlainDictsReadLikePython) {
  PSAM_REQUIRE_GOLDEN();
  PSAM_REQUIRE_PYTHON();
  expect_reads_like_python(golden("io_tiny.pth"));
  expect_reads_like_python(golden("metrics_cases.pth"));
}

TEST(GoldenPth, ReadTensorsFlattensNestedCheckpoints) {
  PSAM_REQUIRE_GOLDEN();
  const auto tensors = psam::io::read_tensors(golden("probsam_tiny.pth"));
  EXPECT_EQ(tensors.size(), 20u);
  EXPECT_EQ(tensors.at("prior.encoder.0.weight").sizes(), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(tensors.at("z_projector.2.bias").sizes(), (std::vector<int64_t>{32}));
}

// Files torch.save writes with every dtype, views, shared storages, nesting, parameters, an
// OrderedDict state dict, non-tensor values, in every pickle protocol.
constexpr const char* kPythonWriter = R"PY(
import collections, sys, torch
out = sys.argv[1]
base = torch.arange(48, dtype=torch.float32) * 0.25 - 3
model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Linear(2, 2))
obj = {
    "f32": base.reshape(6, 8), "f16": base.half(), "bf16": base.bfloat16(), "f64": base.double(),
    "i64": torch.arange(-5, 5), "i32": torch.arange(-3, 3, dtype=torch.int32),
    "i16": torch.arange(-300, 300, 50, dtype=torch.int16),
    "i8": torch.arange(-100, 100, 7, dtype=torch.int8),
    "u8": torch.arange(0, 250, 9, dtype=torch.uint8), "bool": base > 0,
    "view_offset": base[5:17], "view_strided": base.reshape(6, 8)[1:5:2, ::3],
    "transposed": base.reshape(6, 8).t(), "expanded": torch.tensor([1., 2., 3.]).expand(4, 3),
    "row": base.reshape(6, 8)[2], "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
    "param": torch.nn.Parameter(torch.ones(3)),
    "nested": {"list": [torch.ones(2), {"deep": torch.full((2, 2), 7, dtype=torch.int32)}],
               "tuple": (torch.zeros(1), 3)},
    "state": model.state_dict(),
    "epoch": 12, "lr": 1e-4, "name": "probsam \u00fc", "flag": True, "none": None,
    "big": 2 ** 40, "neg": -70000, "size": torch.Size([2, 3]), "dtype": torch.float16,
}
for proto in (2, 3, 4, 5):
    torch.save(obj, f"{out}/p{proto}.pth", pickle_protocol=proto)
torch.save(obj, f"{out}/default.pth")
torch.save(model.state_dict(), f"{out}/state_dict.pth")
)PY";

TEST(PythonWrittenPth, EveryProtocolReadsLikePython) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(kPythonWriter, dir.path());
  for (const char* name : {"p2.pth", "p3.pth", "p4.pth", "p5.pth", "default.pth", "state_dict.pth"})
    expect_reads_like_python(dir.file(name));
}

TEST(PythonWrittenPth, NonTensorValuesAndStateDicts) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(kPythonWriter, dir.path());
  for (const char* name : {"p2.pth", "p4.pth", "p5.pth"}) {
    SCOPED_TRACE(name);
    psam::io::DictNotes notes;
    const auto obj = psam::io::read_pth(dir.file(name), &notes).toGenericDict();
    EXPECT_EQ(obj.at("epoch").toInt(), 12);
    EXPECT_EQ(obj.at("lr").toDouble(), 1e-4);
    EXPECT_EQ(obj.at("name").toStringRef(), "probsam \xc3\xbc");
    EXPECT_TRUE(obj.at("flag").toBool());
    EXPECT_TRUE(obj.at("none").isNone());
    EXPECT_EQ(obj.at("big").toInt(), int64_t{1} << 40);
    EXPECT_EQ(obj.at("neg").toInt(), -70000);
    const auto size = obj.at("size").toTupleRef().elements();
    ASSERT_EQ(size.size(), 2u);
    EXPECT_EQ(size[1].toInt(), 3);
    EXPECT_EQ(obj.at("dtype").toStringRef(), "torch.float16");
    EXPECT_EQ(obj.at("nested").toGenericDict().at("tuple").toTupleRef().elements()[1].toInt(), 3);
    const c10::IValue state = obj.at("state");
    EXPECT_EQ(notes.python_type(state), "OrderedDict with _metadata");
    EXPECT_EQ(notes.python_type(c10::IValue(obj)), "dict");
    const auto metadata = notes.metadata.at(state.internalToPointer()).toGenericDict();
    EXPECT_EQ(metadata.at("2").toGenericDict().at("version").toInt(), 1);
  }
}

// psam writes: Python must load it with weights_only=True and find exactly these values.
psam::io::TensorDict make_all_dtypes() {
  const at::Tensor base = at::arange(48, at::kFloat) * 0.25 - 3;
  psam::io::TensorDict t;
  t.insert("f32", base.reshape({6, 8}));
  t.insert("f16", base.to(at::kHalf));
  t.insert("bf16", base.to(at::kBFloat16));
  t.insert("f64", base.to(at::kDouble));
  t.insert("i64", at::arange(-5, 5, at::kLong));
  t.insert("i32", at::arange(-3, 3, at::kInt));
  t.insert("i16", at::arange(-300, 300, 50, at::kShort));
  t.insert("i8", at::arange(-100, 100, 7, at::kChar));
  t.insert("u8", at::arange(0, 250, 9, at::kByte));
  t.insert("bool", base > 0);
  t.insert("transposed", base.reshape({6, 8}).t());
  t.insert("slice", base.slice(0, 5, 17));
  t.insert("expanded", at::arange(1, 4, at::kFloat).expand({4, 3}));
  t.insert("scalar", at::scalar_tensor(2.5));
  t.insert("empty", at::zeros({0, 3}));
  return t;
}

constexpr const char* kExpectAllDtypes = R"PY(
import torch
def all_dtypes():
    base = torch.arange(48, dtype=torch.float32) * 0.25 - 3
    return {
        "f32": base.reshape(6, 8), "f16": base.half(), "bf16": base.bfloat16(),
        "f64": base.double(), "i64": torch.arange(-5, 5),
        "i32": torch.arange(-3, 3, dtype=torch.int32),
        "i16": torch.arange(-300, 300, 50, dtype=torch.int16),
        "i8": torch.arange(-100, 100, 7, dtype=torch.int8),
        "u8": torch.arange(0, 250, 9, dtype=torch.uint8), "bool": base > 0,
        "transposed": base.reshape(6, 8).t(), "slice": base[5:17],
        "expanded": torch.arange(1, 4, dtype=torch.float32).expand(4, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float32), "empty": torch.zeros(0, 3)}
def check_tensors(got, want):
    assert list(got) == list(want), (list(got), list(want))
    for k, v in want.items():
        g = got[k]
        assert type(g) is torch.Tensor and g.dtype == v.dtype and g.shape == v.shape, (k, g, v)
        assert torch.equal(g, v), (k, g, v)
)PY";

TEST(PsamWrittenPth, PythonLoadsWithWeightsOnly) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const psam::io::TensorDict tensors = make_all_dtypes();
  c10::impl::GenericDict obj(c10::StringType::get(), c10::AnyType::get());
  c10::impl::GenericDict tensor_dict(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [name, t] : tensors) tensor_dict.insert(name, t);
  obj.insert("tensors", tensor_dict);
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(at::ones({2}));
  c10::impl::GenericDict deep(c10::StringType::get(), c10::AnyType::get());
  deep.insert("deep", at::full({2, 2}, 7, at::kInt));
  list.push_back(deep);
  obj.insert("list", list);
  obj.insert("tuple", c10::ivalue::Tuple::create({at::zeros({1}), 3, "x"}));
  c10::impl::GenericList ints(c10::IntType::get());
  for (int64_t v : {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{65535}, int64_t{65536},
                    int64_t{-1}, int64_t{INT32_MAX}, int64_t{INT32_MIN}, int64_t{1} << 31,
                    int64_t{-70000}, INT64_MAX, INT64_MIN})
    ints.push_back(v);
  obj.insert("ints", ints);
  obj.insert("name", "probsam \xc3\xbc");
  obj.insert("flag", true);
  obj.insert("off", false);
  obj.insert("none", c10::IValue());
  c10::impl::GenericDict by_int(c10::IntType::get(), c10::AnyType::get());
  by_int.insert(3, "three");
  obj.insert("by_int", by_int);
  const std::string file = dir.file("psam.pth");
  psam::io::write_pth(file, c10::IValue(obj));

  PSAM_EXPECT_PYTHON(std::string(kExpectAllDtypes) + R"PY(
import sys
d = torch.load(sys.argv[1], weights_only=True)
assert type(d) is dict
check_tensors(d["tensors"], all_dtypes())
assert len(d["list"]) == 2 and torch.equal(d["list"][0], torch.ones(2))
assert torch.equal(d["list"][1]["deep"], torch.full((2, 2), 7, dtype=torch.int32))
assert type(d["tuple"]) is tuple and torch.equal(d["tuple"][0], torch.zeros(1))
assert d["tuple"][1:] == (3, "x")
assert d["ints"] == [0, 255, 256, 65535, 65536, -1, 2**31 - 1, -2**31, 2**31, -70000,
                     2**63 - 1, -2**63], d["ints"]
assert d["name"] == "probsam \u00fc" and d["flag"] is True and d["off"] is False
assert d["none"] is None and d["by_int"] == {3: "three"}
)PY",
                     file);

  // And psam reads its own file back exactly.
  const auto back = psam::io::read_pth(file).toGenericDict();
  const auto back_tensors = psam::io::flatten_tensors(back.at("tensors"));
  ASSERT_EQ(back_tensors.keys(), tensors.keys());
  for (const auto& [name, t] : tensors)
    EXPECT_TRUE(psam::testing::same_tensor(back_tensors.at(name), t)) << name;
  EXPECT_EQ(back.at("ints").toListRef().back().toInt(), INT64_MIN);
}

// torch 1.13's weights_only unpickler has no BINFLOAT, so Python floats are checked with a plain
// torch.load there and with weights_only on torch >= 2.
TEST(PsamWrittenPth, FloatsLoadInPython) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  c10::impl::GenericDict obj(c10::StringType::get(), c10::AnyType::get());
  obj.insert("lr", 1e-4);
  obj.insert("values", c10::List<double>({0.5, -2.25, 1e300, -0.0}));
  const std::string file = dir.file("floats.pth");
  psam::io::write_pth(file, c10::IValue(obj));
  PSAM_EXPECT_PYTHON(R"PY(
import math, sys, torch
weights_only = int(torch.__version__.split(".")[0]) >= 2
d = torch.load(sys.argv[1], weights_only=weights_only) if weights_only else torch.load(sys.argv[1])
assert d["lr"] == 1e-4 and d["values"][:3] == [0.5, -2.25, 1e300], d
assert math.copysign(1, d["values"][3]) == -1
)PY",
                     file);
}

TEST(PsamWrittenPth, StateDictLoadsIntoAPythonModule) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  psam::io::TensorDict state;
  state.insert("weight", at::arange(6, at::kFloat).reshape({2, 3}));
  state.insert("bias", at::arange(1, 3, at::kFloat));
  const std::string file = dir.file("linear.pth");
  psam::io::write_pth(file, state);
  PSAM_EXPECT_PYTHON(R"PY(
import sys, torch
m = torch.nn.Linear(3, 2)
m.load_state_dict(torch.load(sys.argv[1], weights_only=True), strict=True)
assert torch.equal(m.weight, torch.arange(6.).reshape(2, 3)) and torch.equal(m.bias, torch.tensor([1., 2.]))
)PY",
                     file);
}

TEST(PsamWrittenPth, WriteIsAtomicAndRefusesUnsupportedValues) {
  TempDir dir;
  const std::string file = dir.file("x.pth");
  psam::io::TensorDict good;
  good.insert("a", at::ones({2}));
  psam::io::write_pth(file, good);
  const std::string before = psam::testing::read_bytes(file);
  c10::impl::GenericDict bad(c10::StringType::get(), c10::AnyType::get());
  bad.insert("ok", at::ones({2}));
  bad.insert("complex", at::ones({2}, at::kComplexFloat));
  EXPECT_THROW(psam::io::write_pth(file, c10::IValue(bad)), psam::Error);
  c10::impl::GenericDict device(c10::StringType::get(), c10::AnyType::get());
  device.insert("device", c10::Device("cpu"));
  EXPECT_THROW(psam::io::write_pth(file, c10::IValue(device)), psam::Error);
  // The earlier file is untouched and no temporary is left beside it.
  EXPECT_EQ(psam::testing::read_bytes(file), before);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
  EXPECT_THROW(psam::io::write_pth(dir.file("missing_dir/x.pth"), good), psam::Error);
}

}  // namespace
