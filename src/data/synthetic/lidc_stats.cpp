#include "psam/data/synthetic/lidc_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "psam/util/error.h"

namespace psam::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Area and centroid of one mask of a window.
struct MaskShape {
  double area = 0, row = 0, col = 0;
};

MaskShape shape_of(const at::Tensor& mask) {
  const auto* m = mask.data_ptr<std::uint8_t>();
  const long rows = mask.size(0), cols = mask.size(1);
  MaskShape s;
  for (long r = 0; r < rows; ++r) {
    for (long c = 0; c < cols; ++c) {
      if (m[r * cols + c]) s.area += 1, s.row += r, s.col += c;
    }
  }
  if (s.area > 0) s.row /= s.area, s.col /= s.area;
  return s;
}

double intersection(const at::Tensor& a, const at::Tensor& b) {
  const auto* x = a.data_ptr<std::uint8_t>();
  const auto* y = b.data_ptr<std::uint8_t>();
  double n = 0;
  for (long i = 0; i < a.numel(); ++i) n += (x[i] & y[i]);
  return n;
}

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// A point mark (nodule < 3 mm or non-nodule) as a one-point annotation, to measure its distance.
LidcNodule point_nodule(double z, LidcPoint p) {
  LidcNodule n;
  n.rois.push_back({z, {}, true, {p}});
  return n;
}

// Whether a session marked a point (nodule < 3 mm or non-nodule) within tolerance_mm of, or
// inside, any of the outlines.
bool marked_as_point(const LidcReadingSession& session,
                     const std::vector<const LidcNodule*>& outlines, double pixel_spacing_mm,
                     double tolerance_mm) {
  std::vector<LidcNodule> points;
  for (const auto& nod : session.nodules) {
    if (!nod.has_contour()) {
      for (const auto& roi : nod.rois) points.push_back(point_nodule(roi.z, roi.edge.front()));
    }
  }
  for (const auto& nn : session.non_nodules) points.push_back(point_nodule(nn.z, nn.locus));
  return std::any_of(points.begin(), points.end(), [&](const LidcNodule& p) {
    return std::any_of(outlines.begin(), outlines.end(), [&](const LidcNodule* a) {
      return annotation_distance(p, *a, pixel_spacing_mm) <= tolerance_mm;
    });
  });
}

nlohmann::json to_json(const Distribution& d) {
  return {{"count", d.count},   {"mean", d.mean}, {"min", d.min}, {"p10", d.p10}, {"p25", d.p25},
          {"median", d.median}, {"p75", d.p75},   {"p90", d.p90}, {"max", d.max}};
}

std::string row(const std::string& name, const Distribution& d, int digits) {
  return fmt::format("| {} | {} | {:.{}f} | {:.{}f} | {:.{}f} | {:.{}f} | {:.{}f} | {:.{}f} |\n",
                     name, d.count, d.mean, digits, d.p10, digits, d.p25, digits, d.median, digits,
                     d.p75, digits, d.p90, digits);
}

std::string percent(double share) { return fmt::format("{:.1f} %", 100.0 * share); }

}  // namespace

struct LidcStatsAccumulator::Samples {
  std::vector<double> slice_iou, slice_iou_all, nodule_iou, centroid_offset, area_ratio, slice_area,
      slice_diameter, nodule_diameter, nodule_max_slice_diameter, slices_per_nodule;
};

Distribution Distribution::of(std::vector<double> values) {
  Distribution d;
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  d.count = static_cast<std::int64_t>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  d.mean = sum / static_cast<double>(values.size());
  d.min = values.front();
  d.max = values.back();
  d.p10 = quantile(values, 0.10);
  d.p25 = quantile(values, 0.25);
  d.median = quantile(values, 0.50);
  d.p75 = quantile(values, 0.75);
  d.p90 = quantile(values, 0.90);
  return d;
}

LidcStatsAccumulator::LidcStatsAccumulator(LidcStatsOptions options)
    : options_(options), samples_(std::make_unique<Samples>()) {
  PSAM_CHECK(options.max_readers >= 1 && options.max_readers < 9,
             fmt::format("max_readers {}: expected 1..8", options.max_readers));
  PSAM_CHECK(options.pixel_spacing_mm > 0,
             fmt::format("pixel spacing {}: expected > 0 mm", options.pixel_spacing_mm));
  counts_.options = options;
}

LidcStatsAccumulator::~LidcStatsAccumulator() = default;

void LidcStatsAccumulator::add(const LidcXml& xml) {
  if (xml.kind != LidcXmlKind::kCt || xml.sessions.empty()) return;
  const int slots = std::min(static_cast<int>(xml.sessions.size()), options_.max_readers);
  const double ps = options_.pixel_spacing_mm;
  const double step = estimate_slice_step(xml);
  ++counts_.series;
  counts_.sessions += static_cast<std::int64_t>(xml.sessions.size());
  auto& S = *samples_;

  for (const auto& group : group_nodules(xml, {ps, step, options_.max_readers})) {
    const int n = static_cast<int>(group.readers.size());
    std::vector<const LidcNodule*> nodules;
    for (const auto& r : group.readers)
      nodules.push_back(&xml.sessions[r.session].nodules[r.nodule]);
    counts_.annotations += n + group.dropped_readers;
    counts_.dropped_annotations += group.dropped_readers;
    ++counts_.physical_nodules;
    ++counts_.nodules_by_readers[n];
    nodule_slots_ += slots;
    missing_slots_ += slots - n;

    // Did a reader without an outline mark the lesion as a point?
    for (int k = 0; k < slots; ++k) {
      const bool outlined = std::any_of(group.readers.begin(), group.readers.end(),
                                        [&](const ReaderAnnotation& r) { return r.session == k; });
      if (!outlined) missing_marked_ += marked_as_point(xml.sessions[k], nodules, ps, step) ? 1 : 0;
    }

    // Slices by SOP UID: each reader's rois there (readers without one give an empty mask).
    std::map<std::string, std::vector<std::vector<const LidcRoi*>>> slices;
    for (int i = 0; i < n; ++i) {
      for (const auto& roi : nodules[i]->rois) {
        auto& per_reader = slices[roi.sop_uid];
        per_reader.resize(n);
        per_reader[i].push_back(&roi);
      }
    }
    std::vector<double> voxels(n, 0), max_area(n, 0), inter(n * n, 0), uni(n * n, 0);
    int nodule_slices = 0;
    for (const auto& [sop, per_reader] : slices) {
      std::vector<const LidcRoi*> all;
      for (const auto& v : per_reader) all.insert(all.end(), v.begin(), v.end());
      const auto window = bounding_window(all, 1);
      std::vector<at::Tensor> masks;
      std::vector<MaskShape> shapes;
      for (int i = 0; i < n; ++i) {
        masks.push_back(reader_slice_mask(per_reader[i], window, options_.masks));
        shapes.push_back(shape_of(masks.back()));
      }
      const int marked = static_cast<int>(std::count_if(
          shapes.begin(), shapes.end(), [](const MaskShape& s) { return s.area > 0; }));
      if (marked == 0) continue;  // only holes on this slice
      ++nodule_slices;
      ++counts_.slices;
      ++counts_.slices_by_readers[marked];
      slice_slots_ += slots;
      empty_masks_ += slots - marked;
      auto union_mask = masks[0].clone();
      for (int i = 1; i < n; ++i) union_mask.bitwise_or_(masks[i]);
      S.slice_diameter.push_back(2 * std::sqrt(shape_of(union_mask).area / kPi));

      for (int i = 0; i < n; ++i) {
        voxels[i] += shapes[i].area;
        max_area[i] = std::max(max_area[i], shapes[i].area);
        if (shapes[i].area > 0) S.slice_area.push_back(shapes[i].area);
      }
      // Every pair of the file's reader slots; slots >= n are readers who drew nothing.
      for (int i = 0; i < slots; ++i) {
        for (int j = i + 1; j < slots; ++j) {
          const double ai = i < n ? shapes[i].area : 0, aj = j < n ? shapes[j].area : 0;
          if (ai == 0 || aj == 0) {
            S.slice_iou_all.push_back(ai == 0 && aj == 0 ? 1.0 : 0.0);
            if (i < n && j < n) uni[i * n + j] += ai + aj;
            continue;
          }
          const double in = intersection(masks[i], masks[j]);
          const double iou = in / (ai + aj - in);
          S.slice_iou.push_back(iou);
          S.slice_iou_all.push_back(iou);
          S.centroid_offset.push_back(
              std::hypot(shapes[i].row - shapes[j].row, shapes[i].col - shapes[j].col));
          S.area_ratio.push_back(std::min(ai, aj) / std::max(ai, aj));
          inter[i * n + j] += in;
          uni[i * n + j] += ai + aj - in;
        }
      }
    }
    S.slices_per_nodule.push_back(nodule_slices);
    double diameter = 0, max_slice_diameter = 0;
    for (int i = 0; i < n; ++i) {
      diameter += std::cbrt(6.0 * voxels[i] * ps * ps * step / kPi) / n;
      max_slice_diameter += 2.0 * std::sqrt(max_area[i] / kPi) * ps / n;
      for (int j = i + 1; j < n; ++j) {
        if (uni[i * n + j] > 0) S.nodule_iou.push_back(inter[i * n + j] / uni[i * n + j]);
      }
    }
    S.nodule_diameter.push_back(diameter);
    S.nodule_max_slice_diameter.push_back(max_slice_diameter);
  }
}

LidcReaderStats LidcStatsAccumulator::finish() const {
  LidcReaderStats out = counts_;
  const auto& S = *samples_;
  const auto share = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  out.nodule_missing_share = share(missing_slots_, nodule_slots_);
  out.slice_empty_share = share(empty_masks_, slice_slots_);
  out.missing_marked_as_point_share = share(missing_marked_, missing_slots_);
  out.slice_iou = Distribution::of(S.slice_iou);
  out.slice_iou_all = Distribution::of(S.slice_iou_all);
  out.nodule_iou = Distribution::of(S.nodule_iou);
  out.slice_centroid_offset_px = Distribution::of(S.centroid_offset);
  out.slice_area_ratio = Distribution::of(S.area_ratio);
  out.slice_area_px = Distribution::of(S.slice_area);
  out.slice_diameter_px = Distribution::of(S.slice_diameter);
  out.nodule_diameter_mm = Distribution::of(S.nodule_diameter);
  out.nodule_max_slice_diameter_mm = Distribution::of(S.nodule_max_slice_diameter);
  out.slices_per_nodule = Distribution::of(S.slices_per_nodule);
  return out;
}

std::string LidcReaderStats::json() const {
  nlohmann::json j;
  j["options"] = {{"pixel_spacing_mm", options.pixel_spacing_mm},
                  {"include_outline", options.masks.include_outline},
                  {"max_readers", options.max_readers}};
  j["counts"] = {{"series", series},
                 {"sessions", sessions},
                 {"annotations", annotations},
                 {"physical_nodules", physical_nodules},
                 {"dropped_annotations", dropped_annotations},
                 {"slices", slices}};
  j["nodules_by_readers"] = nodules_by_readers;
  j["slices_by_readers"] = slices_by_readers;
  j["nodule_missing_share"] = nodule_missing_share;
  j["slice_empty_share"] = slice_empty_share;
  j["missing_marked_as_point_share"] = missing_marked_as_point_share;
  j["slice_iou"] = to_json(slice_iou);
  j["slice_iou_all"] = to_json(slice_iou_all);
  j["nodule_iou"] = to_json(nodule_iou);
  j["slice_centroid_offset_px"] = to_json(slice_centroid_offset_px);
  j["slice_area_ratio"] = to_json(slice_area_ratio);
  j["slice_area_px"] = to_json(slice_area_px);
  j["slice_diameter_px"] = to_json(slice_diameter_px);
  j["nodule_diameter_mm"] = to_json(nodule_diameter_mm);
  j["nodule_max_slice_diameter_mm"] = to_json(nodule_max_slice_diameter_mm);
  j["slices_per_nodule"] = to_json(slices_per_nodule);
  return j.dump(2);
}

std::string LidcReaderStats::markdown(const std::string& source) const {
  std::ostringstream md;
  md << "# LIDC-IDRI reader disagreement statistics\n\n"
     << "Generated by `psam data lidc-stats` from " << source << ".\n"
     << "Regenerate: `psam data lidc-stats --xml-root <tcia-lidc-xml> --out "
        "docs/lidc_reader_stats.md`.\n\n"
     << "## Definitions\n\n"
     << "- One CT read per series (duplicate XML copies counted once; TCIA's correction file "
        "replaces the original). Readers = the file's reading sessions (4 for all but two "
        "series), at most "
     << options.max_readers << ".\n"
     << "- A physical nodule groups the outlined (>= 3 mm) annotations of different readers whose "
        "edge points come within the slice step (the smallest z gap between the file's rois) in "
        "3-D, one annotation per reader (docs/lidc.md, grouping).\n"
     << "- Masks follow the pixel-centre rule of docs/lidc.md (outline pixels "
     << (options.masks.include_outline ? "included" : "excluded")
     << ", exclusion contours subtracted).\n"
     << "- A slice sample = one (physical nodule, slice) with at least one non-empty reader "
        "mask: what `psam data import-lidc` writes as one sample with K reader masks.\n"
     << "- IoU per slice: 2-D masks of one slice. IoU per nodule: voxel sets over all slices.\n"
     << "- Sizes in pixels are exact; millimetres use a nominal pixel spacing of "
     << options.pixel_spacing_mm
     << " mm (the XML has no spacing; LIDC spans about 0.46-0.98 mm) and the slice step.\n"
     << "- Reference: Armato et al. 2011 (Med. Phys. 38(2)) count 2669 lesions marked as nodules "
        ">= 3 mm by at least one radiologist, 928 (34.7 %) by all four.\n\n";

  md << "## Key numbers (for the synthetic generator)\n\n"
     << fmt::format(
            "- Per slice sample, a reader's mask is empty with probability {:.3f}; per "
            "nodule, a reader slot is empty with probability {:.3f}.\n",
            slice_empty_share, nodule_missing_share)
     << fmt::format(
            "- Readers who both outlined a slice: pairwise IoU median {:.3f} (p10 {:.3f}, "
            "p90 {:.3f}), centroid offset median {:.2f} px, area ratio median {:.3f}.\n",
            slice_iou.median, slice_iou.p10, slice_iou.p90, slice_centroid_offset_px.median,
            slice_area_ratio.median)
     << fmt::format(
            "- Lesion size per slice (union of readers, equivalent diameter): median {:.1f} "
            "px, p10-p90 {:.1f}-{:.1f} px; nodule equivalent-sphere diameter median {:.1f} "
            "mm at the nominal spacing.\n\n",
            slice_diameter_px.median, slice_diameter_px.p10, slice_diameter_px.p90,
            nodule_diameter_mm.median);

  md << "## Counts\n\n| item | count |\n| --- | --- |\n"
     << "| CT series (one read each) | " << series << " |\n"
     << "| reading sessions | " << sessions << " |\n"
     << "| reader annotations with outlines | " << annotations << " |\n"
     << "| physical nodules | " << physical_nodules << " |\n"
     << "| annotations dropped (more than " << options.max_readers << " readers) | "
     << dropped_annotations << " |\n"
     << "| slice samples | " << slices << " |\n\n";

  md << "## How many readers outlined it\n\n| readers | nodules | share | slices | share |\n"
     << "| --- | --- | --- | --- | --- |\n";
  for (int k = 1; k <= options.max_readers; ++k) {
    md << fmt::format(
        "| {} | {} | {} | {} | {} |\n", k, nodules_by_readers[k],
        percent(physical_nodules ? double(nodules_by_readers[k]) / physical_nodules : 0),
        slices_by_readers[k], percent(slices ? double(slices_by_readers[k]) / slices : 0));
  }
  md << "\n- Share of reader slots with no outline, per nodule: " << percent(nodule_missing_share)
     << "\n- Share of empty reader masks, per slice sample: " << percent(slice_empty_share)
     << "\n- Of the readers who did not outline a nodule others outlined, marked it as a point "
        "(nodule < 3 mm or non-nodule within the slice step): "
     << percent(missing_marked_as_point_share) << "\n\n";

  md << "## Overlap and size\n\n| quantity | n | mean | p10 | p25 | median | p75 | p90 |\n"
     << "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
     << row("pairwise IoU per slice, both readers outlined", slice_iou, 3)
     << row("pairwise IoU per slice, all reader pairs (empty = 0, both empty = 1)", slice_iou_all,
            3)
     << row("pairwise IoU per nodule volume, both readers outlined", nodule_iou, 3)
     << row("centroid offset per slice pair (px)", slice_centroid_offset_px, 2)
     << row("area ratio smaller/larger per slice pair", slice_area_ratio, 3)
     << row("reader mask area per slice (px)", slice_area_px, 1)
     << row("union equivalent diameter per slice (px)", slice_diameter_px, 1)
     << row("nodule equivalent-sphere diameter (mm, nominal spacing)", nodule_diameter_mm, 1)
     << row("nodule largest equivalent-circle diameter (mm, nominal spacing)",
            nodule_max_slice_diameter_mm, 1)
     << row("slices per nodule", slices_per_nodule, 1);
  return md.str();
}

}  // namespace psam::data
