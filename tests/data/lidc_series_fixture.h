// A synthetic CT series for the LIDC importer tests: DICOM slices carrying the SOP UIDs and z
// positions of a real XML read (e.g. 185_069.xml of LIDC-IDRI-0001).
#pragma once

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "data/synthetic_dicom.h"
#include "psam/data/importers/lidc_xml.h"

namespace psam::testing {

constexpr double kSpacing = 0.703125;  // LIDC-IDRI-0001's pixel spacing

// Outlines (>= 2 points) at one z, per session.
inline std::map<int, std::vector<const psam::data::LidcRoi*>> outlines_at(
    const psam::data::LidcXml& xml, double z) {
  std::map<int, std::vector<const psam::data::LidcRoi*>> out;
  for (std::size_t s = 0; s < xml.sessions.size(); ++s)
    for (const auto& n : xml.sessions[s].nodules)
      for (const auto& r : n.rois)
        if (r.edge.size() > 1 && std::abs(r.z - z) < 1e-3) out[static_cast<int>(s)].push_back(&r);
  return out;
}

// A synthetic CT series carrying the SOP UIDs and z positions of an XML's rois, on a regular
// grid of z from z0 to z1. The image is air (-1000 HU) with a 40 HU disc on each slice around
// the readers' outlines (centre = mean edge point, radius = farthest edge point + 1): drawn from
// the raw points, not through psam's polygon fill.
inline void write_series(const psam::data::LidcXml& xml, const std::string& dir, double z0,
                         double z1, double dz) {
  std::map<long, std::string> sop_at;  // z in 1/1000 mm -> SOP UID
  for (const auto& s : xml.sessions)
    for (const auto& n : s.nodules)
      for (const auto& r : n.rois) sop_at[std::lround(r.z * 1000)] = r.sop_uid;
  int instance = 1;
  for (double z = z0; z <= z1 + 1e-6; z += dz, ++instance) {
    psam::testing::SyntheticCtSlice sl;
    sl.patient_id = "LIDC-IDRI-0001";
    sl.series_uid = xml.series_uid;
    sl.study_uid = xml.study_uid;
    const auto it = sop_at.find(std::lround(z * 1000));
    sl.sop_uid =
        it != sop_at.end() ? it->second : fmt::format("1.2.826.0.1.3680043.2.1125.9.{}", instance);
    sl.z = z;
    sl.instance_number = instance;
    sl.row_spacing = sl.col_spacing = kSpacing;
    auto hu = torch::full({512, 512}, -1000.0, torch::kFloat32);
    std::vector<psam::data::LidcPoint> pts;
    for (const auto& [s, rois] : outlines_at(xml, z))
      for (const auto* r : rois) pts.insert(pts.end(), r->edge.begin(), r->edge.end());
    if (!pts.empty()) {
      double cx = 0, cy = 0, radius = 0;
      for (const auto& p : pts) cx += p.x, cy += p.y;
      cx /= pts.size(), cy /= pts.size();
      for (const auto& p : pts) radius = std::max(radius, std::hypot(p.x - cx, p.y - cy));
      const auto rows = torch::arange(512, torch::kFloat32).view({512, 1});
      const auto cols = torch::arange(512, torch::kFloat32).view({1, 512});
      const auto disc = ((rows - cy).pow(2) + (cols - cx).pow(2)).le(std::pow(radius + 1, 2));
      hu.masked_fill_(disc, 40.0);
    }
    sl.stored = (hu + 1024).to(torch::kInt16);  // intercept -1024
    psam::testing::write_ct_slice(fmt::format("{}/{:03d}.dcm", dir, instance), sl);
  }
}

}  // namespace psam::testing
