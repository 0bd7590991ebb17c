// A dataset store's descriptive files: dataset.json, meta.jsonl and splits.json (the input's
// three parts, split at "@@@@" lines) beside small fixed arrays (4 grey 8x8 float32 images,
// 2 annotators), read by `psam data check` (every problem listed) and by training (open, the
// split indices, the fingerprint the embedding cache is keyed on).
#include <ATen/ATen.h>

#include "fuzz/fuzz_target.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/npy.h"

namespace {

std::string fixed_store_dir() {
  static const std::string dir = [] {
    const std::string d = psam::fuzz::scratch_dir() + "/store";
    psam::fuzz::write_file("store/.keep", "");
    psam::io::write_npy(d + "/images.npy", at::zeros({4, 8, 8}, at::kFloat));
    psam::io::write_npy(d + "/masks.npy", at::zeros({4, 2, 8, 8}, at::kByte));
    return d;
  }();
  return dir;
}

}  // namespace

PSAM_FUZZ_TARGET(store) {
  const std::string dir = fixed_store_dir();
  const auto parts = psam::fuzz::split_parts(data, size, 3);
  const char* names[] = {"store/dataset.json", "store/meta.jsonl", "store/splits.json"};
  for (size_t i = 0; i < 3; ++i)
    psam::fuzz::write_file(names[i], i < parts.size() ? parts[i] : std::string_view());
  psam::data::check_store(dir);
  const psam::data::DatasetStore store = psam::data::DatasetStore::open(dir);
  for (const auto& [name, ids] : store.splits().sets) store.split_indices(name);
  store.fingerprint();
}
