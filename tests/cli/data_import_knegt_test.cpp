#include "psam/data/importers/import_knegt.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cli/run_cli.h"
#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/pickle/pickle.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

namespace fs = std::filesystem;

// Writes pickles shaped like the Probabilistic U-Net port's data_lidc.pickle with numpy, and
// compares a store against the pickle it came from, in Python.
constexpr const char* kFixtureScript = R"(import pickle, sys
import numpy as np
out, protocol, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(7)
data = {}
for i in range(7):
    patient = 1 + i // 3
    if kind == "hu":
        image = (rng.random((16, 16)) * 1400 - 1100).astype(np.float32)
    elif kind == "odd":
        image = (rng.random((16, 16)) * 50 + 10).astype(np.float32)
    else:
        image = rng.random((16, 16), dtype=np.float32)
    masks = [(rng.random((16, 16)) > 0.6).astype(np.uint8) for _ in range(4)]
    masks[3][:] = 0  # a reader who did not mark it
    if kind == "float_masks":
        masks = [m.astype(np.float32) for m in masks]
    key = ("slice_%d" % i) if kind == "series_keys" else ("LIDC-IDRI-%04d_slice_%d" % (patient, i))
    data[key] = {"image": image, "masks": masks, "series_uid": "1.3.6.1.%d" % patient}
with open(out, "wb") as f:
    pickle.dump(data, f, protocol=protocol)
)";

constexpr const char* kCompareScript = R"(import json, pickle, sys
import numpy as np
pkl, store = sys.argv[1], sys.argv[2]
data = pickle.load(open(pkl, "rb"))
images = np.load(store + "/images.npy", mmap_mode="r")
masks = np.load(store + "/masks.npy", mmap_mode="r")
meta = [json.loads(l) for l in open(store + "/meta.jsonl")]
assert len(meta) == len(data) == images.shape[0]
for i, (key, entry) in enumerate(data.items()):
    assert meta[i]["id"] == key and meta[i]["series_uid"] == entry["series_uid"]
    assert np.array_equal(images[i], entry["image"].astype(np.float32))
    assert np.array_equal(masks[i], np.stack([(m > 0.5) for m in entry["masks"]]).astype(np.uint8))
print("same")
)";

class KnegtImport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!support::python_has("numpy")) GTEST_SKIP() << PSAM_PYTHON " with numpy not available";
    std::ofstream(test::path_in(tmp_, "make.py")) << kFixtureScript;
    std::ofstream(test::path_in(tmp_, "compare.py")) << kCompareScript;
  }
  std::string fixture(int protocol, const std::string& kind = "unit") {
    const std::string path =
        test::path_in(tmp_, "p" + std::to_string(protocol) + "_" + kind + ".pickle");
    support::run_python(test::path_in(tmp_, "make.py") + " " + path + " " +
                        std::to_string(protocol) + " " + kind);
    return path;
  }
  test::TempDir tmp_;
};

TEST_F(KnegtImport, Protocols2To4GiveTheSameStoreAsThePickle) {
  for (int protocol : {2, 3, 4}) {
    SCOPED_TRACE(protocol);
    const std::string pickle = fixture(protocol);
    const std::string out = test::path_in(tmp_, "store" + std::to_string(protocol));
    auto r = test::run_cli({"data", "import-knegt", pickle, out});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("wrote 7 samples of 3 patients (4 annotators, 16x16)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("recorded as 'unit'; patient ids from key"), std::string::npos) << r.out;
    EXPECT_EQ(support::run_python(test::path_in(tmp_, "compare.py") + " " + pickle + " " + out),
              "same\n");
    const DatasetStore store = DatasetStore::open(out);
    EXPECT_EQ(store.info().intensity, Intensity::kUnit);
    EXPECT_EQ(store.meta()[4].patient_id, "LIDC-IDRI-0002");
    for (const auto& [name, ids] : store.splits().sets)
      EXPECT_EQ(store.splits().unit, "patient") << name;
    EXPECT_TRUE(check_store(out).ok());
  }
}

TEST_F(KnegtImport, IntensityIsDetectedOrRefused) {
  const std::string hu = fixture(4, "hu");
  KnegtImportOptions o;
  const KnegtImportResult r = import_knegt(hu, test::path_in(tmp_, "hu"), o);
  EXPECT_EQ(r.intensity, "hu");
  EXPECT_LT(r.image_min, -100);
  o.intensity = "unit";
  EXPECT_THROW(import_knegt(hu, test::path_in(tmp_, "hu_as_unit"), o), Error);
  const std::string odd = fixture(4, "odd");
  o.intensity = "auto";
  try {
    import_knegt(odd, test::path_in(tmp_, "odd"), o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("neither [0, 1] nor Hounsfield units"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(test::path_in(tmp_, "odd")));
  EXPECT_FALSE(fs::exists(test::path_in(tmp_, "hu_as_unit")));
}

TEST_F(KnegtImport, FloatMasksAndPatientsFromMetadata) {
  const std::string floats = fixture(3, "float_masks");
  ASSERT_EQ(test::run_cli({"data", "import-knegt", floats, test::path_in(tmp_, "f")}).rc, 0);
  EXPECT_EQ(support::run_python(test::path_in(tmp_, "compare.py") + " " + floats + " " +
                                test::path_in(tmp_, "f")),
            "same\n");
  // Keys without a patient: the series UID stands in, or the TCIA metadata maps it.
  const std::string series = fixture(4, "series_keys");
  KnegtImportOptions o;
  KnegtImportResult r = import_knegt(series, test::path_in(tmp_, "s1"), o);
  EXPECT_EQ(r.patient_id_from, "series_uid");
  EXPECT_EQ(DatasetStore::open(test::path_in(tmp_, "s1")).meta()[0].patient_id, "1.3.6.1.1");
  o.metadata_csv = tmp_.write("meta.csv",
                              "Collection,Patient Id,Modality,Series UID\n"
                              "LIDC-IDRI,LIDC-IDRI-0101,CT,1.3.6.1.1\n"
                              "LIDC-IDRI,LIDC-IDRI-0102,CT,1.3.6.1.2\n"
                              "LIDC-IDRI,LIDC-IDRI-0103,CT,1.3.6.1.3\n");
  r = import_knegt(series, test::path_in(tmp_, "s2"), o);
  EXPECT_EQ(r.patient_id_from, "metadata");
  EXPECT_EQ(r.patients, 3);
  EXPECT_EQ(DatasetStore::open(test::path_in(tmp_, "s2")).meta()[6].patient_id, "LIDC-IDRI-0103");
}

TEST_F(KnegtImport, MalformedPicklesFailCleanlyAndWriteNothing) {
  const std::string script = tmp_.write("bad.py", R"(import pickle, sys, os
import numpy as np
m = [np.zeros((4, 4), np.uint8)] * 4
cases = {
  "not_dict": [1, 2],
  "no_masks": {"a": {"image": np.zeros((4, 4), np.float32), "series_uid": "1"}},
  "ragged": {"a": {"image": np.zeros((4, 4), np.float32), "masks": m, "series_uid": "1"},
             "b": {"image": np.zeros((5, 4), np.float32),
                   "masks": [np.zeros((5, 4), np.uint8)] * 4, "series_uid": "1"}},
  "int_image": {"a": {"image": np.zeros((4, 4), np.int32), "masks": m, "series_uid": "1"}},
}
for name, obj in cases.items():
    pickle.dump(obj, open(os.path.join(sys.argv[1], name + ".pickle"), "wb"), protocol=4)

class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
pickle.dump({"a": Evil()}, open(os.path.join(sys.argv[1], "evil.pickle"), "wb"), protocol=4)
)");
  support::run_python(script + " " + tmp_.path());
  const std::pair<const char*, const char*> cases[] = {
      {"not_dict", "expected a dict of samples"},
      {"no_masks", "entry 'a': no 'masks'"},
      {"ragged", "entry 'b' has a [5,4] image"},
      {"int_image", "image must be a 2-D float array"},
      {"evil", "system"},
  };
  for (const auto& [name, message] : cases) {
    const std::string out = test::path_in(tmp_, std::string("out_") + name);
    auto r = test::run_cli(
        {"data", "import-knegt", test::path_in(tmp_, std::string(name) + ".pickle"), out});
    EXPECT_EQ(r.rc, 1) << name;
    EXPECT_NE(r.err.find(message), std::string::npos) << name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << name;
  }
}

// read_pickle with numpy_views: the arrays view the mapped file, stay valid after the path is
// gone, and equal what copying gives.
TEST_F(KnegtImport, NumpyViewsOfTheMappedFile) {
  for (int protocol : {2, 4}) {
    const std::string path = fixture(protocol);
    io::UnpickleOptions o;
    o.allow_numpy = true;
    const c10::IValue copied = io::read_pickle(path, o);
    o.numpy_views = true;
    const c10::IValue viewed = io::read_pickle(path, o);
    fs::remove(path);
    const auto a = copied.toGenericDict(), b = viewed.toGenericDict();
    ASSERT_EQ(a.size(), b.size());
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      const auto ea = ia->value().toGenericDict(), eb = ib->value().toGenericDict();
      const at::Tensor image_a = ea.at("image").toTensor(), image_b = eb.at("image").toTensor();
      EXPECT_TRUE(torch::equal(image_a, image_b));
      // A copy owns a resizable allocation; a view of the map does not. Protocol 2 spells bytes
      // as latin-1 text, which has to be decoded into memory either way. float32 data that
      // happens to sit misaligned in the file is copied; uint8 masks are always viewed.
      EXPECT_TRUE(image_a.storage().resizable());
      if (!image_b.storage().resizable()) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(image_b.data_ptr()) % sizeof(float), 0u);
      }
      const auto masks_a = ea.at("masks").toListRef(), masks_b = eb.at("masks").toListRef();
      for (size_t k = 0; k < masks_a.size(); ++k) {
        EXPECT_TRUE(torch::equal(masks_a[k].toTensor(), masks_b[k].toTensor()));
        EXPECT_EQ(masks_b[k].toTensor().storage().resizable(), protocol < 3);
      }
    }
  }
}

}  // namespace
}  // namespace psam::data
