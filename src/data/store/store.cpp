#include "psam/data/store/store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "psam/data/store/check.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "data/store/store_json.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

std::string array_signature(const char* name, const at::Tensor& t) {
  if (!t.defined()) return std::string(name) + ": absent";
  return fmt::format("{}: {} {} {}", name, c10::toString(t.scalar_type()),
                     fmt::join(t.sizes(), "x"), t.nbytes());
}

}  // namespace

DatasetStore DatasetStore::load_unvalidated(const std::string& dir) {
  PSAM_CHECK(fs::is_directory(dir), "dataset store " + dir + ": no such directory");
  DatasetStore store;
  store.dir_ = dir;
  const fs::path root(dir);
  const std::string info_path = (root / "dataset.json").string();
  store.info_ = info_from_json(parse_json(read_file(info_path), info_path), info_path);

  store.images_ = io::read_npy((root / "images.npy").string());
  store.masks_ = io::read_npy((root / "masks.npy").string());
  if (fs::exists(root / "oracle_masks.npy"))
    store.oracle_ = io::read_npy((root / "oracle_masks.npy").string());

  const std::string meta_path = (root / "meta.jsonl").string();
  const std::string meta_text = read_file(meta_path);
  size_t start = 0;
  int64_t line_number = 0;
  while (start < meta_text.size()) {
    size_t end = meta_text.find('\n', start);
    if (end == std::string::npos) end = meta_text.size();
    ++line_number;
    const std::string line = meta_text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{} line {}", meta_path, line_number);
    store.meta_.push_back(meta_from_json(parse_json(line, where), where));
  }
  for (size_t i = 0; i < store.meta_.size(); ++i)
    store.index_by_id_.emplace(store.meta_[i].id, static_cast<int64_t>(i));

  const std::string splits_path = (root / "splits.json").string();
  store.splits_ = splits_from_json(parse_json(read_file(splits_path), splits_path), splits_path);
  return store;
}

DatasetStore DatasetStore::open(const std::string& dir) {
  DatasetStore store = load_unvalidated(dir);
  CheckReport report;
  check_structure(store, report);
  if (!report.ok()) {
    std::string more;
    if (report.errors.size() > 1)
      more = fmt::format(" (and {} more problems; run `psam data check {}`)",
                         report.errors.size() - 1, dir);
    fail("dataset store " + dir + ": " + report.errors.front() + more);
  }
  return store;
}

std::vector<int64_t> DatasetStore::split_indices(const std::string& name) const {
  const std::vector<std::string>* ids = nullptr;
  std::vector<std::string> names;
  for (const auto& [set_name, set_ids] : splits_.sets) {
    names.push_back(set_name);
    if (set_name == name) ids = &set_ids;
  }
  PSAM_CHECK(ids != nullptr, fmt::format("dataset store {}: no split '{}' (splits.json has: {})",
                                         dir_, name, fmt::join(names, ", ")));
  std::vector<int64_t> out;
  if (splits_.unit == "image") {
    for (const auto& id : *ids) out.push_back(index_of(id));
    std::sort(out.begin(), out.end());
    return out;
  }
  const std::unordered_set<std::string> patients(ids->begin(), ids->end());
  for (size_t i = 0; i < meta_.size(); ++i)
    if (patients.count(meta_[i].patient_id)) out.push_back(static_cast<int64_t>(i));
  return out;
}

int64_t DatasetStore::index_of(const std::string& id) const {
  auto it = index_by_id_.find(id);
  PSAM_CHECK(it != index_by_id_.end(),
             "dataset store " + dir_ + ": no sample with id '" + id + "'");
  return it->second;
}

std::string DatasetStore::split_fingerprint(const std::string& name) const {
  return cases_fingerprint(split_indices(name));
}

std::string DatasetStore::cases_fingerprint(const std::vector<int64_t>& indices) const {
  std::vector<std::string> ids;
  for (const int64_t i : indices) ids.push_back(meta_.at(i).id);
  std::sort(ids.begin(), ids.end());
  std::string text;
  for (const auto& id : ids) text += id + "\n";
  return sha256_hex(text);
}

std::string DatasetStore::fingerprint() const {
  std::string text = info_to_json(info_).dump() + "\n";
  text += array_signature("images", images_) + "\n";
  text += array_signature("masks", masks_) + "\n";
  text += array_signature("oracle_masks", oracle_) + "\n";
  for (const auto& m : meta_) text += meta_to_json(m).dump() + "\n";
  // A strided sample of the pixels catches a re-import whose headers and meta are unchanged.
  const int64_t n = images_.size(0);
  const int64_t probes = std::min<int64_t>(n, 64);
  for (int64_t p = 0; p < probes; ++p) {
    const at::Tensor image = images_[p * n / probes].contiguous();
    text.append(static_cast<const char*>(image.data_ptr()), image.nbytes());
  }
  return sha256_hex(text);
}

}  // namespace psam::data
