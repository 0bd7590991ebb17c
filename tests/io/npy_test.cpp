// .npy against numpy itself: numpy writes -> psam reads, psam writes -> numpy reads, every dtype.
#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>

#include "io/io_testing.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;

TEST(Npy, NumpyWrittenFilesReadLikeNumpy) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  // The reference: the same arrays as native-order tensors, read by libtorch's own reader.
  PSAM_EXPECT_PYTHON(R"PY(
import sys, numpy as np, torch
out = sys.argv[1]
base = np.arange(60, dtype=np.float64) * 0.75 - 20
arrays = {}
for code in ["f2", "f4", "f8", "u1", "i1", "i2", "i4", "i8"]:
    arrays[code] = base.astype(code).reshape(3, 4, 5)
    if code not in ("u1", "i1"):
        arrays["be_" + code] = base.astype(">" + code).reshape(6, 10)
arrays["b1"] = (base > 0).reshape(5, 12)
arrays["zero_d"] = np.array(2.5, dtype=np.float32)
arrays["empty"] = np.zeros((0, 7), dtype=np.int32)
arrays["one_d"] = base.astype(np.float32)
for k, a in arrays.items():
    np.save(f"{out}/{k}.npy", a)
torch.save({k: torch.from_numpy(a.astype(a.dtype.newbyteorder("="))) for k, a in arrays.items()},
           f"{out}/ref.pth")
)PY",
                     dir.path());
  const std::string ref_bytes = psam::testing::read_bytes(dir.file("ref.pth"));
  const auto ref =
      torch::pickle_load(std::vector<char>(ref_bytes.begin(), ref_bytes.end())).toGenericDict();
  ASSERT_EQ(ref.size(), 18u);
  for (const auto& entry : ref) {
    const std::string& name = entry.key().toStringRef();
    const at::Tensor t = psam::io::read_npy(dir.file(name + ".npy"));
    EXPECT_TRUE(psam::testing::same_tensor(t, entry.value().toTensor())) << name;
  }
}

TEST(Npy, ReadIsAMappingThatOutlivesTheFileName) {
  TempDir dir;
  const std::string path = dir.file("a.npy");
  const at::Tensor a = at::arange(1000, at::kFloat).reshape({10, 100});
  psam::io::write_npy(path, a);
  const at::Tensor mapped = psam::io::read_npy(path);
  // No copy: the tensor points into the mapped file, 64-byte aligned after numpy's header.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mapped.data_ptr()) % 64, 0u);
  std::filesystem::remove(path);  // the mapping keeps the data
  EXPECT_TRUE(psam::testing::same_tensor(mapped, a));
}

at::Tensor sample(at::ScalarType dtype) {
  const at::Tensor base = at::arange(60, at::kDouble) * 0.75 - 20;
  return dtype == at::kBool ? (base > 0).reshape({3, 4, 5}) : base.to(dtype).reshape({3, 4, 5});
}

constexpr const char* kNumpyChecks = R"PY(
import sys, numpy as np
out = sys.argv[1]
base = np.arange(60, dtype=np.float64) * 0.75 - 20
for code in ["f2", "f4", "f8", "u1", "i1", "i2", "i4", "i8", "b1"]:
    want = ((base > 0) if code == "b1" else base.astype(code)).reshape(3, 4, 5)
    for kind in ("whole", "rows"):
        for mmap in (None, "r"):
            got = np.load(f"{out}/{kind}_{code}.npy", mmap_mode=mmap)
            assert got.dtype == want.dtype and got.shape == want.shape, (code, got.dtype, got.shape)
            assert np.array_equal(got, want), (code, kind)
s = np.load(f"{out}/scalar.npy")
assert s.shape == () and s.dtype == np.float32 and s == np.float32(2.5)
e = np.load(f"{out}/empty.npy")
assert e.shape == (0, 4) and e.dtype == np.int64
t = np.load(f"{out}/transposed.npy")
assert np.array_equal(t, np.arange(12, dtype=np.float32).reshape(3, 4).T)
)PY";

TEST(Npy, PsamWrittenFilesReadInNumpy) {
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const std::vector<std::pair<at::ScalarType, std::string>> dtypes{
      {at::kHalf, "f2"}, {at::kFloat, "f4"}, {at::kDouble, "f8"},
      {at::kByte, "u1"}, {at::kChar, "i1"},  {at::kShort, "i2"},
      {at::kInt, "i4"},  {at::kLong, "i8"},  {at::kBool, "b1"}};
  for (const auto& [dtype, code] : dtypes) {
    const at::Tensor t = sample(dtype);
    psam::io::write_npy(dir.file("whole_" + code + ".npy"), t);
    // Streamed: one row, then two at once.
    psam::io::NpyWriter writer(dir.file("rows_" + code + ".npy"), dtype, {3, 4, 5});
    writer.append(t[0]);
    writer.append(t.slice(0, 1, 3));
    writer.commit();
    // And psam reads both back identically.
    EXPECT_TRUE(
        psam::testing::same_tensor(psam::io::read_npy(dir.file("whole_" + code + ".npy")), t));
    EXPECT_TRUE(
        psam::testing::same_tensor(psam::io::read_npy(dir.file("rows_" + code + ".npy")), t));
  }
  psam::io::write_npy(dir.file("scalar.npy"), at::scalar_tensor(2.5, at::kFloat));
  psam::io::write_npy(dir.file("empty.npy"), at::zeros({0, 4}, at::kLong));
  psam::io::write_npy(dir.file("transposed.npy"), at::arange(12, at::kFloat).reshape({3, 4}).t());
  PSAM_EXPECT_PYTHON(kNumpyChecks, dir.path());
}

TEST(Npy, NpyWriterChecksAndCleansUp) {
  TempDir dir;
  const std::string path = dir.file("rows.npy");
  {
    psam::io::NpyWriter writer(path, at::kFloat, {3, 2});
    writer.append(at::ones({2}));
    EXPECT_THROW(writer.append(at::ones({3})), psam::Error);               // wrong row shape
    EXPECT_THROW(writer.append(at::ones({2}, at::kDouble)), psam::Error);  // wrong dtype
    EXPECT_THROW(writer.append(at::ones({3, 2})), psam::Error);            // too many rows
    EXPECT_THROW(writer.commit(), psam::Error);                            // 1 of 3 rows
    // Destroyed uncommitted: nothing at path, no temporary left.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  EXPECT_THROW(psam::io::NpyWriter(path, at::kBFloat16, {1}), psam::Error);  // numpy has no bf16
  EXPECT_THROW(psam::io::write_npy(path, at::ones({2}, at::kBFloat16)), psam::Error);
  EXPECT_THROW(psam::io::NpyWriter(dir.file("no_dir/x.npy"), at::kFloat, {1}), psam::Error);
  psam::io::NpyWriter empty(path, at::kByte, {0, 5});
  empty.commit();
  EXPECT_EQ(psam::io::read_npy(path).sizes(), (std::vector<int64_t>{0, 5}));
}

}  // namespace
