#include "psam/data/importers/dicom_series.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "psam/io/dicom.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
namespace {

// Slices closer than this along the normal are the same position (print rounding of DICOM DS).
constexpr double kSamePositionMm = 1e-3;

bool looks_like_dicom(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == ".dcm" || ext == ".dicom") return true;
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  f.seekg(128);
  return f.read(magic, 4) && std::string(magic, 4) == "DICM";
}

std::array<double, 3> normal_of(const std::array<double, 6>& o) {
  return {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
}

}  // namespace

int SeriesIndex::find_sop(const std::string& sop_uid) const {
  for (std::size_t i = 0; i < slices.size(); ++i)
    if (slices[i].sop_uid == sop_uid) return static_cast<int>(i);
  return -1;
}

int SeriesIndex::find_z(double z, double tolerance_mm) const {
  int best = -1;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    const double d = std::abs(slices[i].z - z);
    if (d <= tolerance_mm && (best < 0 || d < std::abs(slices[best].z - z)))
      best = static_cast<int>(i);
  }
  return best;
}

double SeriesIndex::slice_spacing() const {
  if (slices.size() < 2) return 0;
  std::vector<double> gaps;
  for (std::size_t i = 1; i < slices.size(); ++i)
    gaps.push_back(slices[i].location - slices[i - 1].location);
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

DicomIndex index_dicom_tree(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  PSAM_CHECK(fs::is_directory(root, ec), fmt::format("DICOM root {}: not a directory", root));
  std::vector<fs::path> paths;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && looks_like_dicom(it->path())) paths.push_back(it->path());
  }
  PSAM_CHECK(!ec, fmt::format("DICOM root {}: {}", root, ec.message()));
  std::sort(paths.begin(), paths.end());

  DicomIndex index;
  index.files = static_cast<int>(paths.size());
  // Header reads are independent file reads: spread them over libtorch's threads.
  std::vector<io::DicomSlice> headers(paths.size());
  std::vector<std::string> errors(paths.size());
  at::parallel_for(0, static_cast<int64_t>(paths.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        headers[i] = io::read_dicom_header(paths[i].string());
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    }
  });
  std::map<std::string, std::vector<std::pair<io::DicomSlice, std::string>>> groups;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto& h = headers[i];
    const std::string p = paths[i].string();
    if (!errors[i].empty()) {
      index.failed.push_back(errors[i]);
    } else if (h.frames != 1 || h.rows <= 0 || h.cols <= 0) {
      index.failed.push_back(fmt::format("{}: not a single-frame image ({} frames)", p, h.frames));
    } else if (h.series_uid.empty()) {
      index.failed.push_back(fmt::format("{}: no SeriesInstanceUID", p));
    } else {
      groups[h.series_uid].emplace_back(std::move(h), p);
    }
  }
  for (const auto& f : index.failed) log::debug(fmt::format("skipped {}", f));

  for (auto& [uid, files] : groups) {
    SeriesIndex s;
    const auto& first = files.front().first;
    s.series_uid = uid;
    s.study_uid = first.study_uid;
    s.patient_id = first.patient_id;
    s.modality = first.modality;
    s.spacing = first.spacing;
    s.orientation = first.orientation;
    s.slice_thickness = first.slice_thickness;
    s.rows = first.rows;
    s.cols = first.cols;
    const auto n = normal_of(s.orientation);
    std::vector<SeriesSlice> slices;
    for (const auto& [h, path] : files) {
      const double loc = h.position[0] * n[0] + h.position[1] * n[1] + h.position[2] * n[2];
      slices.push_back({path, h.sop_uid, h.transfer_syntax, h.position[2], loc, h.instance_number});
    }
    std::sort(slices.begin(), slices.end(), [](const SeriesSlice& a, const SeriesSlice& b) {
      return a.location != b.location ? a.location < b.location
                                      : a.instance_number < b.instance_number;
    });
    for (const auto& sl : slices) {
      // Equal locations: the sort put the lower InstanceNumber first; it wins.
      if (!s.slices.empty() && sl.location - s.slices.back().location < kSamePositionMm) {
        ++s.duplicates;
        log::warn(
            fmt::format("series {}: {} repeats location {:.3f} mm of {}; keeping the lower "
                        "InstanceNumber",
                        uid, sl.path, sl.location, s.slices.back().path));
        continue;
      }
      s.slices.push_back(sl);
    }
    index.series.emplace(uid, std::move(s));
  }
  return index;
}

DicomSeries load_series(const SeriesIndex& index) {
  PSAM_CHECK(!index.slices.empty(), fmt::format("series {}: no slices", index.series_uid));
  DicomSeries out;
  out.index = index;
  out.hu = torch::empty({static_cast<long>(index.slices.size()), index.rows, index.cols},
                        torch::kFloat32);
  for (std::size_t i = 0; i < index.slices.size(); ++i) {
    const auto slice = io::read_dicom(index.slices[i].path);
    PSAM_CHECK(slice.rows == index.rows && slice.cols == index.cols,
               fmt::format("DICOM {}: {}x{} pixels, but series {} is {}x{}", index.slices[i].path,
                           slice.rows, slice.cols, index.series_uid, index.rows, index.cols));
    out.hu[static_cast<long>(i)].copy_(slice.hu);
  }
  return out;
}

std::vector<DicomSeries> read_series(const std::string& dir) {
  const auto index = index_dicom_tree(dir);
  PSAM_CHECK(!index.series.empty(), fmt::format("DICOM folder {}: no image series found", dir));
  std::vector<DicomSeries> out;
  for (const auto& [uid, s] : index.series) out.push_back(load_series(s));
  return out;
}

}  // namespace psam::data
