// The on-disk dataset store: the one format training and evaluation read, written by every
// importer and by the synthetic generator. A store is a directory:
//
//   dataset.json       name, N, K, H, W, channels, image dtype, intensity meaning, provenance
//   images.npy         [N,H,W] (grey) or [N,H,W,3] (RGB); float32 (CT in HU, or [0,1]) or uint8
//   masks.npy          [N,K,H,W] uint8 in {0,1}; a reader who did not mark the lesion -> empty
//   oracle_masks.npy   optional [N,M,H,W] uint8: M further draws from the annotator distribution
//                      (synthetic stores only; they give the best achievable GED)
//   meta.jsonl         one JSON object per sample: id, patient_id, series_uid, z, extra fields
//   splits.json        named sets (train/val/test) of patient ids (or of sample ids, "image" unit)
//
// Arrays are NumPy .npy files so numpy users open them directly (np.load(..., mmap_mode='r'));
// psam memory-maps them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "psam/util/names.h"

namespace psam::data {

// How image values are to be read; the loader picks its intensity mapping from it.
enum class Intensity {
  kHu,     // float32 CT values in Hounsfield units
  kUnit,   // float32 already in [0, 1]
  kUint8,  // uint8 0..255 (grey or RGB)
};
inline constexpr NameTable<Intensity, 3> kIntensityNames = {{
    {Intensity::kHu, "hu"},
    {Intensity::kUnit, "unit"},
    {Intensity::kUint8, "uint8"},
}};
constexpr const auto& enum_names(Intensity) { return kIntensityNames; }
std::string to_string(Intensity intensity);                // hu | unit | uint8
Intensity intensity_from_string(const std::string& name);  // throws on anything else

struct DatasetInfo {
  std::string name;
  int64_t count = 0;       // N
  int64_t annotators = 0;  // K
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 1;                     // 1: images [N,H,W]; 3: images [N,H,W,3] (RGB)
  at::ScalarType image_dtype = at::kFloat;  // kFloat or kByte (the latter iff intensity kUint8)
  Intensity intensity = Intensity::kHu;
  std::string provenance_json = "{}";  // JSON object: source, command, options, statistics
};

struct SampleMeta {
  std::string id;                 // unique within the store
  std::string patient_id;         // the unit of patient-level splits
  std::string series_uid;         // empty when unknown
  std::optional<double> z;        // slice position (mm) or index
  std::string extra_json = "{}";  // JSON object of further fields, stored flat in the same line
};

// splits.json. unit "patient": every patient in exactly one set; unit "image": every sample id
// in exactly one set (the reference's image-level split, which lets a patient's slices fall
// into both training and test).
struct Splits {
  std::string unit = "patient";
  std::string description;
  std::vector<std::pair<std::string, std::vector<std::string>>> sets;  // name -> ids, file order
};

class DatasetStore {
 public:
  // Reads DIR and validates its structure (shapes, dtypes, counts, ids, split coverage, no
  // patient in two sets of a patient split); pixel values are checked by check_store().
  static DatasetStore open(const std::string& dir);
  // Parses the files without the consistency checks (for `psam data check`, which reports every
  // problem instead of the first).
  static DatasetStore load_unvalidated(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const DatasetInfo& info() const { return info_; }
  int64_t size() const { return info_.count; }

  // Memory-mapped, read-only (clone before writing).
  const at::Tensor& images() const { return images_; }
  const at::Tensor& masks() const { return masks_; }
  bool has_oracle() const { return oracle_.defined(); }
  const at::Tensor& oracle_masks() const { return oracle_; }

  const std::vector<SampleMeta>& meta() const { return meta_; }
  const Splits& splits() const { return splits_; }
  // Store indices (ascending) of the samples in set `name`; throws naming the sets there are.
  std::vector<int64_t> split_indices(const std::string& name) const;
  // Index of the sample with this id; throws if there is none.
  int64_t index_of(const std::string& id) const;

  // SHA-256 (hex) of dataset.json, the array headers and sizes, meta.jsonl and a strided sample
  // of the image bytes: equal fingerprints mean "same inputs" for caches keyed on the images.
  // splits.json is left out (re-splitting does not change any image).
  std::string fingerprint() const;
  // SHA-256 (hex) of the sorted case ids of split `name`: two tables scored on the same test set
  // carry the same value, whatever the store's order or its other splits (published LIDC splits
  // are not seeded, so this is how to tell).
  std::string split_fingerprint(const std::string& name) const;
  // The same of any set of store indices.
  std::string cases_fingerprint(const std::vector<int64_t>& indices) const;

 private:
  std::string dir_;
  DatasetInfo info_;
  at::Tensor images_, masks_, oracle_;
  std::vector<SampleMeta> meta_;
  Splits splits_;
  std::unordered_map<std::string, int64_t> index_by_id_;
};

// Writes a store. Everything is staged in a temporary directory beside `dir` and renamed into
// place by commit(), so a failed or interrupted import leaves nothing at `dir`.
class DatasetWriter {
 public:
  // info.count samples must be added before commit(). oracle_draws > 0 also writes
  // oracle_masks.npy. An existing `dir` is an error unless overwrite is set (then it is
  // replaced only when commit() succeeds).
  DatasetWriter(const std::string& dir, const DatasetInfo& info, int64_t oracle_draws = 0,
                bool overwrite = false);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // image [H,W] or [H,W,3] of the declared dtype; masks [K,H,W] (any dtype: non-zero = inside);
  // oracle [M,H,W] when oracle_draws > 0.
  void add(const at::Tensor& image, const at::Tensor& masks, const SampleMeta& meta,
           const at::Tensor& oracle = at::Tensor());
  // The same for n samples at once: images [n,...], masks [n,K,H,W], oracle [n,M,H,W].
  void add_batch(const at::Tensor& images, const at::Tensor& masks,
                 const std::vector<SampleMeta>& meta, const at::Tensor& oracle = at::Tensor());

  int64_t added() const;
  const std::vector<SampleMeta>& meta() const;
  // Replaces info.provenance_json (e.g. with statistics known only after the samples).
  void set_provenance(const std::string& provenance_json);

  // Writes the JSON files, validates the staged store with DatasetStore::open and renames it to
  // `dir`.
  void commit(const Splits& splits);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace psam::data
