#include "psam/data/importers/import_lidc_png.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "psam/data/store/store.h"
#include "psam/io/image.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

struct PngEntry {
  fs::path folder;            // ROOT or ROOT/<split>
  std::string split;          // "" without split folders
  std::string patient, stem;  // stem: "z-<z>_c<crop>"
  double z = 0;
  int64_t crop_index = 0;

  std::string id() const { return (split.empty() ? "" : split + "/") + patient + "/" + stem; }
  fs::path image() const { return folder / "images" / patient / (stem + ".png"); }
  fs::path mask(int64_t k) const {
    return folder / "gt" / patient / fmt::format("{}_l{}.png", stem, k);
  }
};

// ROOT itself when it holds images/, else its subfolders that do (the split folders).
std::vector<std::pair<std::string, fs::path>> source_folders(const fs::path& root) {
  PSAM_CHECK(fs::is_directory(root), root.string() + ": no such directory");
  if (fs::is_directory(root / "images")) return {{"", root}};
  std::vector<std::pair<std::string, fs::path>> out;
  for (const auto& d : fs::directory_iterator(root))
    if (d.is_directory() && fs::is_directory(d.path() / "images"))
      out.emplace_back(d.path().filename().string(), d.path());
  std::sort(out.begin(), out.end());
  PSAM_CHECK(!out.empty(),
             fmt::format("{}: no images/<patient>/z-<z>_c<crop>.png files found (expected images/ "
                         "and gt/ here or in split folders such as train/)",
                         root.string()));
  return out;
}

// Every images/<patient>/z-<z>_c<crop>.png, sorted by split folder, patient, z, crop.
std::vector<PngEntry> list_images(const fs::path& root) {
  static const std::regex name(R"(z-(-?[0-9]+(?:\.[0-9]+)?)_c([0-9]+)\.png)");
  std::vector<PngEntry> out;
  for (const auto& [split, folder] : source_folders(root)) {
    for (const auto& patient : fs::directory_iterator(folder / "images")) {
      if (!patient.is_directory()) continue;
      for (const auto& file : fs::directory_iterator(patient.path())) {
        std::smatch m;
        const std::string filename = file.path().filename().string();
        if (!std::regex_match(filename, m, name)) continue;
        out.push_back({folder, split, patient.path().filename().string(),
                       filename.substr(0, filename.size() - 4), std::stod(m[1]), std::stoll(m[2])});
      }
    }
  }
  PSAM_CHECK(!out.empty(),
             fmt::format("{}: no images/<patient>/z-<z>_c<crop>.png files found", root.string()));
  std::sort(out.begin(), out.end(), [](const PngEntry& a, const PngEntry& b) {
    return std::tie(a.split, a.patient, a.z, a.crop_index) <
           std::tie(b.split, b.patient, b.z, b.crop_index);
  });
  return out;
}

// A grey PNG as uint8 [H,W]; colour files are refused (these crops are grey).
at::Tensor read_grey(const fs::path& path) {
  const at::Tensor rgb = io::read_image_rgb(path.string());
  const at::Tensor grey = rgb.select(2, 0);
  PSAM_CHECK(torch::equal(grey, rgb.select(2, 1)) && torch::equal(grey, rgb.select(2, 2)),
             path.string() + ": a colour image; expected a grey crop or mask");
  return grey.contiguous();
}

at::Tensor centre_crop(const at::Tensor& t, int64_t side, const fs::path& path) {
  if (side == 0) return t;
  const int64_t h = t.size(-2), w = t.size(-1);
  PSAM_CHECK(h >= side && w >= side,
             fmt::format("{}: {}x{} is smaller than the crop {}", path.string(), h, w, side));
  const int64_t y = (h - side) / 2, x = (w - side) / 2;
  return t.slice(-2, y, y + side).slice(-1, x, x + side);
}

int64_t count_readers(const PngEntry& e) {
  int64_t k = 0;
  while (fs::exists(e.mask(k))) ++k;
  return k;
}

}  // namespace

LidcPngImportResult import_lidc_png(const std::string& root_dir, const std::string& out_dir,
                                    const LidcPngImportOptions& options) {
  PSAM_CHECK(options.crop >= 0, "crop must be >= 0");
  const fs::path root(root_dir);
  const std::vector<PngEntry> entries = list_images(root);
  const PngEntry& first = entries.front();
  const int64_t k = count_readers(first);
  PSAM_CHECK(k > 0, first.mask(0).string() + ": missing (no reader masks for the first crop)");
  const at::Tensor probe = centre_crop(read_grey(first.image()), options.crop, first.image());

  DatasetInfo info;
  info.name = "lidc-png";
  info.count = static_cast<int64_t>(entries.size());
  info.annotators = k;
  info.height = probe.size(0);
  info.width = probe.size(1);
  info.image_dtype = at::kByte;
  info.intensity = Intensity::kUint8;
  info.provenance_json = nlohmann::json{
      {"importer", "psam data import-lidc-png"},
      {"source", fs::absolute(root).string()},
      {"centre_crop",
       options.crop}}.dump();
  DatasetWriter writer(out_dir, info, 0, options.overwrite);
  std::set<std::string> patients;
  for (const PngEntry& e : entries) {
    const at::Tensor image = centre_crop(read_grey(e.image()), options.crop, e.image());
    PSAM_CHECK(image.size(0) == info.height && image.size(1) == info.width,
               fmt::format("{}: {}x{}, but the first crop is {}x{}", e.image().string(),
                           image.size(0), image.size(1), info.height, info.width));
    std::vector<at::Tensor> masks;
    for (int64_t r = 0; r < k; ++r) {
      PSAM_CHECK(
          fs::exists(e.mask(r)),
          fmt::format("{}: missing (every crop needs {} reader masks)", e.mask(r).string(), k));
      masks.push_back(centre_crop(read_grey(e.mask(r)), options.crop, e.mask(r)));
      PSAM_CHECK(masks.back().sizes() == image.sizes(),
                 e.mask(r).string() + ": mask size differs from its image");
    }
    PSAM_CHECK(!fs::exists(e.mask(k)), fmt::format("{}: more than the {} reader masks of the "
                                                   "first crop",
                                                   e.mask(k).string(), k));
    SampleMeta meta;
    meta.id = e.id();
    meta.patient_id = e.patient;
    meta.z = e.z;
    nlohmann::json extra{{"crop_index", e.crop_index}};
    if (!e.split.empty()) extra["source_split"] = e.split;
    meta.extra_json = extra.dump();
    writer.add(image, torch::stack(masks), meta);
    patients.insert(e.patient);
  }
  const bool folders = !first.split.empty() && options.keep_folder_split;
  std::vector<std::string> folder_of_sample;
  for (const PngEntry& e : entries) folder_of_sample.push_back(e.split);
  const Splits splits = folders
                            ? source_splits(writer.meta(), folder_of_sample, "the split folders")
                            : make_splits(writer.meta(), options.split);
  writer.commit(splits);
  log::info(fmt::format("imported {} crops of {} patients from {} into {}", entries.size(),
                        patients.size(), root_dir, out_dir));
  return {info.count,        static_cast<int64_t>(patients.size()), k, info.height, info.width,
          splits.description};
}

}  // namespace psam::data
