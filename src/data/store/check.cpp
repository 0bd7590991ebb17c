#include "psam/data/store/check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "psam/data/synthetic/annotator_stats.h"
#include "psam/data/store/store.h"
#include "psam/util/error.h"
#include "data/store/store_json.h"

namespace psam::data {
namespace {

std::string shape_text(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

void check_array(const char* name, const at::Tensor& t, at::ScalarType dtype,
                 const std::vector<int64_t>& expected, CheckReport& report) {
  if (t.scalar_type() != dtype)
    report.errors.push_back(fmt::format("{} has dtype {}, expected {}", name,
                                        dtype_name(t.scalar_type()), dtype_name(dtype)));
  if (t.sizes().vec() != expected)
    report.errors.push_back(fmt::format("{} has shape {}, expected {} from dataset.json", name,
                                        shape_text(t.sizes()), shape_text(expected)));
}

// First few items of a list, for messages that must stay one line.
std::string examples(const std::vector<std::string>& items) {
  const size_t shown = std::min<size_t>(items.size(), 3);
  std::vector<std::string> head(items.begin(), items.begin() + shown);
  return fmt::format("{}{}", fmt::join(head, ", "), items.size() > shown ? ", ..." : "");
}

void check_meta(const DatasetStore& store, CheckReport& report) {
  const auto& meta = store.meta();
  if (static_cast<int64_t>(meta.size()) != store.size())
    report.errors.push_back(fmt::format("meta.jsonl has {} lines, dataset.json says {} samples",
                                        meta.size(), store.size()));
  std::unordered_set<std::string> seen;
  std::vector<std::string> duplicates, no_patient;
  for (const auto& m : meta) {
    if (!seen.insert(m.id).second) duplicates.push_back(m.id);
    if (m.patient_id.empty()) no_patient.push_back(m.id);
  }
  if (!duplicates.empty())
    report.errors.push_back(fmt::format("meta.jsonl: {} duplicate sample ids ({})",
                                        duplicates.size(), examples(duplicates)));
  if (!no_patient.empty())
    report.errors.push_back(fmt::format("meta.jsonl: {} samples have an empty patient_id ({})",
                                        no_patient.size(), examples(no_patient)));
}

void check_splits(const DatasetStore& store, CheckReport& report) {
  const Splits& splits = store.splits();
  if (splits.sets.empty()) {
    report.errors.push_back("splits.json defines no sets");
    return;
  }
  const bool by_patient = splits.unit == "patient";
  // The universe the sets must partition: patients or sample ids.
  std::set<std::string> universe;
  for (const auto& m : store.meta()) universe.insert(by_patient ? m.patient_id : m.id);

  std::unordered_map<std::string, std::string> owner;  // id -> first set naming it
  std::vector<std::string> unknown, twice;
  for (const auto& [name, ids] : splits.sets) {
    if (ids.empty()) report.warnings.push_back(fmt::format("split '{}' is empty", name));
    for (const auto& id : ids) {
      if (!universe.count(id)) unknown.push_back(name + ":" + id);
      auto [it, inserted] = owner.emplace(id, name);
      if (!inserted) twice.push_back(fmt::format("{} ({} and {})", id, it->second, name));
    }
  }
  const char* what = by_patient ? "patients" : "samples";
  if (!unknown.empty())
    report.errors.push_back(fmt::format("splits.json names {} {} that are not in meta.jsonl ({})",
                                        unknown.size(), what, examples(unknown)));
  if (!twice.empty())
    report.errors.push_back(fmt::format("splits.json puts {} {} in two sets ({})", twice.size(),
                                        what, examples(twice)));
  std::vector<std::string> uncovered;
  for (const auto& id : universe)
    if (!owner.count(id)) uncovered.push_back(id);
  if (!uncovered.empty())
    report.errors.push_back(
        fmt::format("{} {} are in no split ({})", uncovered.size(), what, examples(uncovered)));

  if (!by_patient) {
    std::map<std::string, std::set<std::string>> sets_of_patient;
    for (const auto& m : store.meta()) {
      auto it = owner.find(m.id);
      if (it != owner.end()) sets_of_patient[m.patient_id].insert(it->second);
    }
    int64_t leaking = 0;
    for (const auto& [patient, sets] : sets_of_patient) leaking += sets.size() > 1;
    if (leaking > 0)
      report.warnings.push_back(fmt::format(
          "image-level split: {} of {} patients have samples in more than one set, so test "
          "scores are optimistic (use a patient split for reported results)",
          leaking, sets_of_patient.size()));
  }
}

void add_summary(const DatasetStore& store, CheckReport& report) {
  const DatasetInfo& info = store.info();
  std::set<std::string> patients;
  for (const auto& m : store.meta()) patients.insert(m.patient_id);
  report.notes.push_back(fmt::format(
      "{}: {} samples from {} patients, {} annotators, {}x{}{}, images {} ({}){}", info.name,
      info.count, patients.size(), info.annotators, info.height, info.width,
      info.channels == 3 ? "x3" : "", dtype_name(info.image_dtype), to_string(info.intensity),
      store.has_oracle() ? fmt::format(", {} oracle draws", store.oracle_masks().size(1)) : ""));
  std::vector<std::string> sizes;
  for (const auto& [name, ids] : store.splits().sets) {
    try {
      sizes.push_back(fmt::format("{} {} samples", name, store.split_indices(name).size()));
    } catch (const Error&) {
      sizes.push_back(fmt::format("{} ?", name));  // unknown ids; reported as an error already
    }
  }
  report.notes.push_back(
      fmt::format("splits by {}: {}", store.splits().unit, fmt::join(sizes, ", ")));
}

// Counts values other than 0/1 and empty masks; masks [n,K,H,W] uint8. Plain loops: one pass
// over the (memory-mapped) bytes, no temporaries.
void scan_masks(const char* name, const at::Tensor& masks, CheckReport& report) {
  const int64_t n = masks.size(0), k = masks.size(1), hw = masks.size(2) * masks.size(3);
  int64_t bad = 0, empty = 0, all_empty = 0;
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor sample = masks[i].contiguous();
    const uint8_t* p = sample.data_ptr<uint8_t>();
    int64_t marked_here = 0;
    for (int64_t a = 0; a < k; ++a, p += hw) {
      uint8_t any = 0;
      for (int64_t q = 0; q < hw; ++q) {
        any |= p[q];
        bad += p[q] > 1;
      }
      marked_here += any != 0;
    }
    empty += k - marked_here;
    all_empty += marked_here == 0;
  }
  if (bad > 0) report.errors.push_back(fmt::format("{}: {} values are neither 0 nor 1", name, bad));
  report.notes.push_back(
      fmt::format("{}: {:.1f}% of annotator masks are empty; {} samples have "
                  "no marked pixel at all",
                  name, 100.0 * empty / std::max<int64_t>(1, n * k), all_empty));
}

}  // namespace

void check_structure(const DatasetStore& store, CheckReport& report) {
  const DatasetInfo& info = store.info();
  std::vector<int64_t> image_shape{info.count, info.height, info.width};
  if (info.channels == 3) image_shape.push_back(3);
  check_array("images.npy", store.images(), info.image_dtype, image_shape, report);
  check_array("masks.npy", store.masks(), at::kByte,
              {info.count, info.annotators, info.height, info.width}, report);
  if (store.has_oracle()) {
    const at::Tensor& oracle = store.oracle_masks();
    const int64_t draws = oracle.dim() == 4 ? oracle.size(1) : 0;
    check_array("oracle_masks.npy", oracle, at::kByte,
                {info.count, std::max<int64_t>(draws, 1), info.height, info.width}, report);
  }
  check_meta(store, report);
  check_splits(store, report);
  if (report.ok()) add_summary(store, report);
}

void check_values(const DatasetStore& store, CheckReport& report) {
  scan_masks("masks.npy", store.masks(), report);
  if (report.ok() && store.info().annotators > 1) {
    const AnnotatorStats s = annotator_statistics(store.masks());
    report.notes.push_back(fmt::format(
        "annotator agreement: pairwise IoU {:.3f} where both marked ({} pairs), {:.3f} over all "
        "pairs (empty-empty = 1)",
        s.pairwise_iou_marked, s.pairs_marked, s.pairwise_iou_all));
  }
  if (store.has_oracle()) scan_masks("oracle_masks.npy", store.oracle_masks(), report);
  const at::Tensor& images = store.images();
  if (store.info().image_dtype != at::kFloat) return;
  int64_t non_finite = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const at::Tensor image = images[i].contiguous();
    const float* p = image.data_ptr<float>();
    for (int64_t q = 0, count = image.numel(); q < count; ++q) {
      if (!std::isfinite(p[q])) {
        ++non_finite;
        continue;
      }
      lo = std::min<double>(lo, p[q]);
      hi = std::max<double>(hi, p[q]);
    }
  }
  if (non_finite > 0)
    report.errors.push_back(fmt::format("images.npy: {} values are NaN or infinite", non_finite));
  report.notes.push_back(fmt::format("image values in [{:g}, {:g}]", lo, hi));
  const Intensity intensity = store.info().intensity;
  if (intensity == Intensity::kUnit && (lo < 0 || hi > 1))
    report.errors.push_back(fmt::format(
        "images.npy: intensity 'unit' promises values in [0, 1], found [{:g}, {:g}]", lo, hi));
  if (intensity == Intensity::kHu && (lo < -3100 || hi > 4100))
    report.warnings.push_back(fmt::format(
        "images.npy: values [{:g}, {:g}] reach outside [-3100, 4100]; are these Hounsfield units?",
        lo, hi));
  if (intensity == Intensity::kHu && lo >= -0.5 && hi <= 1.5)
    report.warnings.push_back(fmt::format(
        "images.npy: values [{:g}, {:g}] look normalised, but intensity says 'hu'", lo, hi));
}

CheckReport check_store(const std::string& dir) {
  CheckReport report;
  try {
    const DatasetStore store = DatasetStore::load_unvalidated(dir);
    check_structure(store, report);
    if (report.ok()) check_values(store, report);
  } catch (const Error& e) {
    report.errors.push_back(e.what());
  }
  return report;
}

}  // namespace psam::data
