#include "psam/data/import_lidc_dicom.h"

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
namespace {

struct PlannedPatch {
  LidcPatchInfo info;
  std::vector<std::vector<const LidcRoi*>> rois;  // per mask slot
};

struct PlannedSeries {
  const SeriesIndex* series = nullptr;
  std::vector<PlannedPatch> patches;
};

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

}  // namespace

struct LidcImporter::Plan {
  std::vector<LidcXml> reads;
  DicomIndex dicom;
  std::vector<PlannedSeries> series;
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
  const int K = options.max_readers;
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
    std::unordered_map<std::string, int> by_sop;
    for (std::size_t i = 0; i < s.slices.size(); ++i)
      by_sop[s.slices[i].sop_uid] = static_cast<int>(i);
    const double z_tolerance = std::min(0.5, 0.5 * s.slice_spacing());
    const double pixel_spacing = 0.5 * (s.spacing[0] + s.spacing[1]);
    const auto groups = group_nodules(xml, {pixel_spacing, grouping_tolerance(s, xml), K});
    const bool by_session = static_cast<int>(xml.sessions.size()) <= K;

    PlannedSeries planned;
    planned.series = &s;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& group = groups[g];
      ++P.report.nodules;
      P.report.dropped_readers += group.dropped_readers;
      std::vector<const LidcNodule*> slot_nodule(K, nullptr);
      std::vector<std::string> slot_reader(K);
      for (int k = 0; k < K && by_session && k < static_cast<int>(xml.sessions.size()); ++k)
        slot_reader[k] = xml.sessions[k].radiologist_id;
      // slice index -> rois per slot
      std::map<int, std::vector<std::vector<const LidcRoi*>>> slices;
      for (std::size_t r = 0; r < group.readers.size(); ++r) {
        const auto& ann = group.readers[r];
        const int slot = by_session ? ann.session : static_cast<int>(r);
        slot_reader[slot] = xml.sessions[ann.session].radiologist_id;
        slot_nodule[slot] = &xml.sessions[ann.session].nodules[ann.nodule];
        for (const auto& roi : slot_nodule[slot]->rois) {
          int idx = -1;
          if (const auto it = by_sop.find(roi.sop_uid); it != by_sop.end()) {
            idx = it->second;
            ++P.report.rois_by_sop;
          } else if ((idx = s.find_z(roi.z, z_tolerance)) >= 0) {
            ++P.report.rois_by_z;
          } else {
            ++P.report.rois_unmatched;
            log::warn(fmt::format("{}: roi at z {} (SOP {}) matches no slice of series {}",
                                  xml.path, roi.z, roi.sop_uid, s.series_uid));
            continue;
          }
          auto& per_slot = slices[idx];
          per_slot.resize(K);
          per_slot[slot].push_back(&roi);
        }
      }
      for (auto& [idx, rois] : slices) {
        const auto& slice = s.slices[idx];
        if (!io::can_decode(slice.transfer_syntax)) {
          P.report.undecodable.push_back(
              fmt::format("{}: transfer syntax {}", slice.path, slice.transfer_syntax));
          continue;
        }
        PlannedPatch p;
        p.info.centre = union_centre(rois, options.masks, p.info.readers_on_slice);
        if (p.info.readers_on_slice == 0) continue;  // only exclusion outlines here
        p.rois = std::move(rois);
        auto& info = p.info;
        info.patient_id = s.patient_id;
        info.study_uid = s.study_uid;
        info.series_uid = s.series_uid;
        info.sop_uid = slice.sop_uid;
        info.xml_path = xml.path;
        info.z = slice.z;
        info.slice_index = idx;
        info.nodule = static_cast<int>(g) + 1;
        info.readers = static_cast<int>(group.readers.size());
        info.reader_ids = slot_reader;
        for (int k = 0; k < K; ++k) {
          const auto* n = slot_nodule[k];
          info.reader_nodule_ids.push_back(n ? n->id : std::string());
          info.malignancy.push_back(n && n->characteristics ? n->characteristics->malignancy : 0);
        }
        info.pixel_spacing = s.spacing;
        info.slice_thickness = s.slice_thickness;
        info.patch_spacing =
            options.patch_spacing_mm > 0 ? options.patch_spacing_mm : pixel_spacing;
        const std::string tail = s.series_uid.substr(s.series_uid.size() -
                                                     std::min<std::size_t>(8, s.series_uid.size()));
        info.id = fmt::format("{}_{}_n{:02d}_z{:.2f}", s.patient_id, tail, info.nodule, info.z);
        if (!ids.insert(info.id).second) {
          info.id += fmt::format("_s{}", idx);
          PSAM_CHECK(ids.insert(info.id).second, fmt::format("duplicate patch id {}", info.id));
        }
        planned.patches.push_back(std::move(p));
      }
    }
    P.count += static_cast<std::int64_t>(planned.patches.size());
    P.series.push_back(std::move(planned));
  }
  for (const auto& u : P.report.undecodable) log::warn(fmt::format("skipped slice {}", u));
}

LidcImporter::~LidcImporter() = default;

std::int64_t LidcImporter::planned() const { return plan_->count; }

const LidcImportReport& LidcImporter::report() const { return plan_->report; }

void LidcImporter::run(const std::function<void(LidcPatch&&)>& sink) const {
  const int S = options_.patch_size;
  const int K = options_.max_readers;
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
      const std::array<double, 2> step = {p.info.patch_spacing / s.spacing[0],
                                          p.info.patch_spacing / s.spacing[1]};
      const std::array<double, 2> centre = {static_cast<double>(p.info.centre[0]),
                                            static_cast<double>(p.info.centre[1])};
      // The CT window the patch samples from, with a margin for bilinear neighbours.
      const int half_r = static_cast<int>(std::ceil(S / 2.0 * step[0])) + 2;
      const int half_c = static_cast<int>(std::ceil(S / 2.0 * step[1])) + 2;
      const PixelWindow w{p.info.centre[0] - half_r, p.info.centre[1] - half_c, 2 * half_r + 1,
                          2 * half_c + 1};
      auto crop = torch::full({1, w.rows, w.cols}, options_.outside_hu, torch::kFloat32);
      const int r0 = std::max(w.row0, 0), r1 = std::min(w.row0 + w.rows, s.rows);
      const int c0 = std::max(w.col0, 0), c1 = std::min(w.col0 + w.cols, s.cols);
      if (r0 < r1 && c0 < c1) {
        using torch::indexing::Slice;
        crop.index({0, Slice(r0 - w.row0, r1 - w.row0), Slice(c0 - w.col0, c1 - w.col0)})
            .copy_(hu.index({Slice(r0, r1), Slice(c0, c1)}));
      }
      std::vector<at::Tensor> slot_masks;
      for (int k = 0; k < K; ++k)
        slot_masks.push_back(reader_slice_mask(p.rois[k], w, options_.masks));
      const auto masks = torch::stack(slot_masks).to(torch::kFloat32);

      LidcPatch out;
      out.image = resample_patch(crop, w.row0, w.col0, centre, step, S, options_.outside_hu)[0];
      out.masks =
          resample_patch(masks, w.row0, w.col0, centre, step, S, 0).ge(0.5).to(torch::kByte);
      out.info = p.info;
      sink(std::move(out));
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
