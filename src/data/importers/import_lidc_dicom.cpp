#include "psam/data/importers/import_lidc_dicom.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "psam/io/dicom.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
// Named (not anonymous) because LidcImporter::Plan holds them.
namespace lidc_plan {

struct PlannedPatch {
  LidcPatchInfo info;
  std::vector<std::vector<const LidcRoi*>> rois;  // per mask slot
};

struct PlannedSeries {
  const SeriesIndex* series = nullptr;
  std::vector<PlannedPatch> patches;
};

}  // namespace lidc_plan

namespace {

using lidc_plan::PlannedPatch;
using lidc_plan::PlannedSeries;

// Grouping tolerance: the slice thickness, else the slice spacing, else the XML's z step.
double grouping_tolerance(const SeriesIndex& s, const LidcXml& xml) {
  if (s.slice_thickness > 0) return s.slice_thickness;
  if (s.slice_spacing() > 0) return s.slice_spacing();
  return estimate_slice_step(xml);
}

// The union of the slot masks' centroid, rounded to a CT pixel.
std::array<int, 2> union_centre(const std::vector<std::vector<const LidcRoi*>>& rois,
                                const MaskOptions& masks, int& non_empty) {
  std::vector<const LidcRoi*> all;
  for (const auto& r : rois) all.insert(all.end(), r.begin(), r.end());
  const auto window = bounding_window(all, 1);
  at::Tensor uni = at::zeros({window.rows, window.cols}, at::kByte);
  non_empty = 0;
  for (const auto& r : rois) {
    const auto m = reader_slice_mask(r, window, masks);
    if (m.any().item<bool>()) ++non_empty;
    uni.bitwise_or_(m);
  }
  if (non_empty == 0) return {0, 0};
  const auto idx = uni.nonzero().to(at::kDouble).mean(0);
  return {window.row0 + static_cast<int>(std::lround(idx[0].item<double>())),
          window.col0 + static_cast<int>(std::lround(idx[1].item<double>()))};
}

// Mask slot of each reader of a nodule: the session index when the file has at most K sessions
// (so a radiologist keeps one slot across nodules), else the reader's rank in the group.
struct Slots {
  std::vector<const LidcNodule*> nodule;  // the reader's annotation, nullptr if none
  std::vector<std::string> reader;        // servicingRadiologistID, "" if no session
  std::vector<int> of_reader;             // slot of group.readers[r]
};

Slots assign_slots(const LidcXml& xml, const PhysicalNodule& group, int K) {
  Slots s{std::vector<const LidcNodule*>(K, nullptr), std::vector<std::string>(K), {}};
  const bool by_session = static_cast<int>(xml.sessions.size()) <= K;
  for (int k = 0; by_session && k < static_cast<int>(xml.sessions.size()); ++k)
    s.reader[k] = xml.sessions[k].radiologist_id;
  for (std::size_t r = 0; r < group.readers.size(); ++r) {
    const auto& ann = group.readers[r];
    const int slot = by_session ? ann.session : static_cast<int>(r);
    s.reader[slot] = xml.sessions[ann.session].radiologist_id;
    s.nodule[slot] = &xml.sessions[ann.session].nodules[ann.nodule];
    s.of_reader.push_back(slot);
  }
  return s;
}

// Plans one series: its physical nodules and, per nodule, the slices with an outline.
class SeriesPlanner {
 public:
  SeriesPlanner(const LidcXml& xml, const SeriesIndex& s, const LidcImportOptions& options,
                LidcImportReport& report, std::set<std::string>& ids)
      : xml_(xml), s_(s), options_(options), report_(report), ids_(ids) {
    for (std::size_t i = 0; i < s.slices.size(); ++i)
      by_sop_[s.slices[i].sop_uid] = static_cast<int>(i);
  }

  PlannedSeries plan() {
    PlannedSeries planned;
    planned.series = &s_;
    const double pixel_spacing = 0.5 * (s_.spacing[0] + s_.spacing[1]);
    const int K = options_.max_readers;
    const auto groups = group_nodules(xml_, {pixel_spacing, grouping_tolerance(s_, xml_), K});
    for (std::size_t g = 0; g < groups.size(); ++g) {
      ++report_.nodules;
      report_.dropped_readers += groups[g].dropped_readers;
      const Slots slots = assign_slots(xml_, groups[g], K);
      // slice index -> rois per slot
      std::map<int, std::vector<std::vector<const LidcRoi*>>> slices;
      for (const int slot : slots.of_reader) {
        for (const auto& roi : slots.nodule[slot]->rois) {
          const int idx = slice_of(roi);
          if (idx < 0) continue;
          auto& per_slot = slices[idx];
          per_slot.resize(K);
          per_slot[slot].push_back(&roi);
        }
      }
      for (auto& [idx, rois] : slices) {
        const auto& slice = s_.slices[idx];
        if (!io::can_decode(slice.transfer_syntax)) {
          report_.undecodable.push_back(
              fmt::format("{}: transfer syntax {}", slice.path, slice.transfer_syntax));
          continue;
        }
        PlannedPatch p;
        p.info.centre = union_centre(rois, options_.masks, p.info.readers_on_slice);
        if (p.info.readers_on_slice == 0) continue;  // only exclusion outlines here
        p.rois = std::move(rois);
        describe(p.info, idx, static_cast<int>(g) + 1, groups[g], slots, pixel_spacing);
        planned.patches.push_back(std::move(p));
      }
    }
    return planned;
  }

 private:
  // The series slice a roi lies on: by SOP UID, else by z; -1 (and a warning) if none.
  int slice_of(const LidcRoi& roi) {
    if (const auto it = by_sop_.find(roi.sop_uid); it != by_sop_.end()) {
      ++report_.rois_by_sop;
      return it->second;
    }
    const int idx = s_.find_z(roi.z, std::min(0.5, 0.5 * s_.slice_spacing()));
    if (idx >= 0) {
      ++report_.rois_by_z;
    } else {
      ++report_.rois_unmatched;
      log::warn(fmt::format("{}: roi at z {} (SOP {}) matches no slice of series {}", xml_.path,
                            roi.z, roi.sop_uid, s_.series_uid));
    }
    return idx;
  }

  void describe(LidcPatchInfo& info, int idx, int nodule, const PhysicalNodule& group,
                const Slots& slots, double pixel_spacing) {
    const auto& slice = s_.slices[idx];
    info.patient_id = s_.patient_id;
    info.study_uid = s_.study_uid;
    info.series_uid = s_.series_uid;
    info.sop_uid = slice.sop_uid;
    info.xml_path = xml_.path;
    info.z = slice.z;
    info.slice_index = idx;
    info.nodule = nodule;
    info.readers = static_cast<int>(group.readers.size());
    info.reader_ids = slots.reader;
    for (const auto* n : slots.nodule) {
      info.reader_nodule_ids.push_back(n ? n->id : std::string());
      info.malignancy.push_back(n && n->characteristics ? n->characteristics->malignancy : 0);
    }
    info.pixel_spacing = s_.spacing;
    info.slice_thickness = s_.slice_thickness;
    info.patch_spacing = options_.patch_spacing_mm > 0 ? options_.patch_spacing_mm : pixel_spacing;
    const auto& uid = s_.series_uid;
    const std::string tail = uid.substr(uid.size() - std::min<std::size_t>(8, uid.size()));
    info.id = fmt::format("{}_{}_n{:02d}_z{:.2f}", s_.patient_id, tail, info.nodule, info.z);
    if (!ids_.insert(info.id).second) {
      info.id += fmt::format("_s{}", idx);
      PSAM_CHECK(ids_.insert(info.id).second, fmt::format("duplicate patch id {}", info.id));
    }
  }

  const LidcXml& xml_;
  const SeriesIndex& s_;
  const LidcImportOptions& options_;
  LidcImportReport& report_;
  std::set<std::string>& ids_;
  std::unordered_map<std::string, int> by_sop_;
};

// One patch: the CT window the patch samples from (with a margin for bilinear neighbours),
// the slot masks rendered on it, both resampled.
LidcPatch cut_patch(const at::Tensor& hu, const SeriesIndex& s, const PlannedPatch& p,
                    const LidcImportOptions& options) {
  const int S = options.patch_size;
  const std::array<double, 2> step = {p.info.patch_spacing / s.spacing[0],
                                      p.info.patch_spacing / s.spacing[1]};
  const std::array<double, 2> centre = {static_cast<double>(p.info.centre[0]),
                                        static_cast<double>(p.info.centre[1])};
  const int half_r = static_cast<int>(std::ceil(S / 2.0 * step[0])) + 2;
  const int half_c = static_cast<int>(std::ceil(S / 2.0 * step[1])) + 2;
  const PixelWindow w{p.info.centre[0] - half_r, p.info.centre[1] - half_c, 2 * half_r + 1,
                      2 * half_c + 1};
  auto crop = torch::full({1, w.rows, w.cols}, options.outside_hu, torch::kFloat32);
  const int r0 = std::max(w.row0, 0), r1 = std::min(w.row0 + w.rows, s.rows);
  const int c0 = std::max(w.col0, 0), c1 = std::min(w.col0 + w.cols, s.cols);
  if (r0 < r1 && c0 < c1) {
    using torch::indexing::Slice;
    crop.index({0, Slice(r0 - w.row0, r1 - w.row0), Slice(c0 - w.col0, c1 - w.col0)})
        .copy_(hu.index({Slice(r0, r1), Slice(c0, c1)}));
  }
  std::vector<at::Tensor> slot_masks;
  for (const auto& rois : p.rois) slot_masks.push_back(reader_slice_mask(rois, w, options.masks));
  const auto masks = torch::stack(slot_masks).to(torch::kFloat32);

  LidcPatch out;
  out.image = resample_patch(crop, w.row0, w.col0, centre, step, S, options.outside_hu)[0];
  out.masks = resample_patch(masks, w.row0, w.col0, centre, step, S, 0).ge(0.5).to(torch::kByte);
  out.info = p.info;
  return out;
}

}  // namespace

struct LidcImporter::Plan {
  std::vector<LidcXml> reads;
  DicomIndex dicom;
  std::vector<lidc_plan::PlannedSeries> series;
  LidcImportReport report;
  std::int64_t count = 0;
};

LidcImporter::LidcImporter(std::vector<LidcXml> reads, DicomIndex dicom, LidcImportOptions options)
    : options_(options), plan_(std::make_unique<Plan>()) {
  PSAM_CHECK(options.patch_size >= 2,
             fmt::format("patch size {}: expected >= 2", options.patch_size));
  PSAM_CHECK(options.max_readers >= 1,
             fmt::format("max readers {}: expected >= 1", options.max_readers));
  auto& P = *plan_;
  P.reads = std::move(reads);
  P.dicom = std::move(dicom);
  std::sort(P.reads.begin(), P.reads.end(),
            [](const LidcXml& a, const LidcXml& b) { return a.series_uid < b.series_uid; });
  std::set<std::string> ids;
  for (const auto& xml : P.reads) {
    if (xml.kind != LidcXmlKind::kCt) continue;
    ++P.report.xml_reads;
    const auto found = P.dicom.series.find(xml.series_uid);
    if (found == P.dicom.series.end()) {
      P.report.missing_series.push_back(xml.series_uid);
      log::warn(fmt::format("{}: series {} not found under the DICOM root; skipped", xml.path,
                            xml.series_uid));
      continue;
    }
    const SeriesIndex& s = found->second;
    if (s.spacing[0] <= 0 || s.spacing[1] <= 0) {
      log::warn(fmt::format("series {}: no PixelSpacing; skipped", s.series_uid));
      continue;
    }
    ++P.report.series_found;
    P.series.push_back(SeriesPlanner(xml, s, options_, P.report, ids).plan());
    P.count += static_cast<std::int64_t>(P.series.back().patches.size());
  }
  for (const auto& u : P.report.undecodable) log::warn(fmt::format("skipped slice {}", u));
}

LidcImporter::~LidcImporter() = default;

std::int64_t LidcImporter::planned() const { return plan_->count; }

const LidcImportReport& LidcImporter::report() const { return plan_->report; }

void LidcImporter::run(const std::function<void(LidcPatch&&)>& sink) const {
  for (const auto& planned : plan_->series) {
    const SeriesIndex& s = *planned.series;
    std::map<int, at::Tensor> decoded;  // slices of this series, decoded once
    for (const auto& p : planned.patches) {
      auto& hu = decoded[p.info.slice_index];
      if (!hu.defined()) {
        const auto& slice = s.slices[p.info.slice_index];
        auto d = io::read_dicom(slice.path);
        PSAM_CHECK(d.rows == s.rows && d.cols == s.cols,
                   fmt::format("DICOM {}: {}x{} pixels, but series {} is {}x{}", slice.path, d.rows,
                               d.cols, s.series_uid, s.rows, s.cols));
        hu = d.hu;
      }
      sink(cut_patch(hu, s, p, options_));
    }
  }
}

at::Tensor resample_patch(const at::Tensor& src, int row0, int col0, std::array<double, 2> centre,
                          std::array<double, 2> step, int size, double outside) {
  PSAM_CHECK(src.dim() == 3 && src.size(1) >= 2 && src.size(2) >= 2,
             "resample_patch: expected src [C, h, w] with h, w >= 2");
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const auto offsets = torch::arange(size, opts) - size / 2;
  // align_corners: -1 and +1 are the centres of the first and last source pixels.
  const auto y = ((offsets * step[0] + (centre[0] - row0)) * (2.0 / (src.size(1) - 1)) - 1);
  const auto x = ((offsets * step[1] + (centre[1] - col0)) * (2.0 / (src.size(2) - 1)) - 1);
  const auto grid =
      torch::stack({x.view({1, size}).expand({size, size}), y.view({size, 1}).expand({size, size})},
                   -1)
          .unsqueeze(0);
  const auto input = (src.to(torch::kFloat64) - outside).unsqueeze(0);
  // Zero padding on (value - outside): positions off the source read as `outside`.
  const auto out =
      at::grid_sampler(input, grid, /*bilinear*/ 0, /*zeros*/ 0, /*align_corners*/ true);
  return (out[0] + outside).to(torch::kFloat32);
}

}  // namespace psam::data
