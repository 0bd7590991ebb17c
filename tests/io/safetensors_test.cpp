// .safetensors against an independent reader and writer: a few lines of Python (struct + json +
// raw bytes, as the format specification describes it), since the safetensors package is not
// installed.
#include <torch/csrc/jit/serialization/pickle.h>

#include <fstream>

#include "io/io_testing.h"
#include "psam/io/format.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;

psam::io::TensorDict sample_tensors() {
  const at::Tensor base = at::arange(24, at::kFloat) * 0.5 - 4;
  psam::io::TensorDict t;
  t.insert("f32", base.reshape({2, 3, 4}));
  t.insert("f16", base.to(at::kHalf));
  t.insert("bf16", base.to(at::kBFloat16).reshape({4, 6}));
  t.insert("f64", base.to(at::kDouble));
  t.insert("i64", base.to(at::kLong));
  t.insert("i32", base.to(at::kInt));
  t.insert("i16", base.to(at::kShort));
  t.insert("i8", base.to(at::kChar));
  t.insert("u8", (base + 10).to(at::kByte));
  t.insert("bool", base > 0);
  t.insert("transposed", base.reshape({4, 6}).t());
  t.insert("scalar", at::scalar_tensor(1.5));
  t.insert("empty", at::zeros({0, 2}));
  return t;
}

// Python's half of both tests: the same tensors and a hand-written reader / writer.
constexpr const char* kPythonSide = R"PY(
import json, struct, sys, torch
base = torch.arange(24, dtype=torch.float32) * 0.5 - 4
want = {"f32": base.reshape(2, 3, 4), "f16": base.half(), "bf16": base.bfloat16().reshape(4, 6),
        "f64": base.double(), "i64": base.long(), "i32": base.int(), "i16": base.short(),
        "i8": base.char(), "u8": (base + 10).byte(), "bool": base > 0,
        "transposed": base.reshape(4, 6).t(), "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 2)}
codes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}
def raw(t):  # little-endian bytes of a tensor, C order
    t = t.contiguous()
    return bytes(t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes())
mode, path = sys.argv[1:3]
if mode == "check":
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0, n
    header = json.loads(data[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt", "epoch": "3"}
    assert list(header) == list(want), list(header)
    end = 0
    for k, t in want.items():
        h = header[k]
        assert h["dtype"] == codes[t.dtype] and h["shape"] == list(t.shape), (k, h)
        b, e = h["data_offsets"]
        assert b == end, (k, b, end)
        assert data[8 + n + b:8 + n + e] == raw(t), k
        end = e
    assert 8 + n + end == len(data)
else:
    header, blob = {"__metadata__": {"source": "python"}}, b""
    for k, t in reversed(list(want.items())):  # a different order than psam writes
        b = raw(t)
        header[k] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                     "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    text = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + blob)
    torch.save({k: t.contiguous() for k, t in want.items()}, path + ".ref.pth")
)PY";

TEST(Safetensors, PsamWrittenFilesMatchTheSpecification) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  psam::io::write_safetensors(path, sample_tensors(), {{"format", "pt"}, {"epoch", "3"}});
  PSAM_EXPECT_PYTHON(kPythonSide, "check", path);
}

TEST(Safetensors, PythonWrittenFilesRead) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  PSAM_EXPECT_PYTHON(kPythonSide, "write", path);
  const psam::io::Safetensors got = psam::io::read_safetensors(path);
  EXPECT_EQ(got.metadata, (std::map<std::string, std::string>{{"source", "python"}}));
  const std::string ref_bytes = psam::testing::read_bytes(path + ".ref.pth");
  const auto ref =
      torch::pickle_load(std::vector<char>(ref_bytes.begin(), ref_bytes.end())).toGenericDict();
  ASSERT_EQ(got.tensors.size(), ref.size());
  // File order, which Python wrote reversed.
  EXPECT_EQ(got.tensors.keys().front(), "empty");
  for (const auto& entry : ref) {
    const std::string& key = entry.key().toStringRef();
    EXPECT_TRUE(psam::testing::same_tensor(got.tensors.at(key), entry.value().toTensor())) << key;
  }
}

TEST(Safetensors, RoundTripKeepsOrderValuesAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const psam::io::TensorDict tensors = sample_tensors();
  psam::io::write_safetensors(path, tensors, {{"k", "v"}});
  const psam::io::Safetensors back = psam::io::read_safetensors(path);
  EXPECT_EQ(back.metadata.at("k"), "v");
  ASSERT_EQ(back.tensors.keys(), tensors.keys());
  for (const auto& [name, t] : tensors)
    EXPECT_TRUE(psam::testing::same_tensor(back.tensors.at(name), t)) << name;
  psam::io::TensorDict bad;
  bad.insert("__metadata__", at::ones({1}));
  EXPECT_THROW(psam::io::write_safetensors(path, bad), psam::Error);
  bad = {};
  bad.insert("c", at::ones({1}, at::kComplexFloat));
  EXPECT_THROW(psam::io::write_safetensors(path, bad), psam::Error);
  // The failed writes left the earlier file intact.
  EXPECT_EQ(psam::io::read_safetensors(path).tensors.size(), tensors.size());
}

// The first byte of a safetensors file is the low byte of its header length; 0x80 is also the
// pickle protocol opcode, and such a file must still be recognised (and read) as safetensors.
TEST(Safetensors, HeaderLengthStartingWith0x80IsNoPickle) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  psam::io::TensorDict t;
  t.insert("x", at::ones({2}));
  for (std::string pad; pad.size() < 300; pad += "a") {
    psam::io::write_safetensors(path, t, {{"pad", pad}});
    std::ifstream in(path, std::ios::binary);
    if (in.get() != 0x80) continue;
    EXPECT_EQ(psam::io::detect_format(path), psam::io::FileFormat::kSafetensors);
    EXPECT_TRUE(psam::io::read_tensors(path).at("x").equal(at::ones({2})));
    return;
  }
  FAIL() << "no padding gave a header length with low byte 0x80";
}

}  // namespace

namespace {

// Files are told apart by content: a safetensors header of 128 + 256 k bytes begins with 0x80,
// the byte that opens a pickle, and must still read as safetensors (found by a fuzz seed).
TEST(Safetensors, HeaderLengthsThatLookLikeAPickleAreSafetensors) {
  TempDir dir;
  for (const size_t header_size : {size_t{128}, size_t{128 + 256}, size_t{640}}) {
    std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    header.append(header_size - header.size(), ' ');
    std::string file;
    for (int i = 0; i < 8; ++i) file += static_cast<char>((header_size >> (8 * i)) & 0xFF);
    const float values[2] = {1.5f, -2.0f};
    file += header + std::string(reinterpret_cast<const char*>(values), sizeof values);
    const std::string path = dir.file("x.safetensors");
    psam::testing::write_bytes(path, file);
    EXPECT_EQ(psam::io::detect_format(path), psam::io::FileFormat::kSafetensors) << header_size;
    const auto tensors = psam::io::read_tensors(path);
    ASSERT_TRUE(tensors.contains("w")) << header_size;
    EXPECT_EQ(tensors.at("w")[1].item<float>(), -2.0f);
  }
}

}  // namespace
