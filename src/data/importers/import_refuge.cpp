#include "psam/data/importers/import_refuge.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "data/importers/image_set.h"
#include "psam/util/error.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// The set folders of the release and the psam set each becomes.
constexpr std::pair<const char*, const char*> kSetFolders[] = {
    {"Training-400", "train"}, {"Validation-400", "val"}, {"Test-400", "test"}};

fs::path mask_path(const fs::path& case_dir, const std::string& structure, int64_t k) {
  const std::string name = case_dir.filename().string();
  return case_dir / fmt::format("{}_seg_{}_{}.png", name, structure, k);
}

// The photograph of a case: <case>.jpg (or .png).
fs::path image_path(const fs::path& case_dir) {
  const std::string name = case_dir.filename().string();
  for (const char* ext : {".jpg", ".png"})
    if (fs::exists(case_dir / (name + ext))) return case_dir / (name + ext);
  fail(
      fmt::format("{}: no {}.jpg (a REFUGE case folder holds the photograph and its raters' "
                  "masks)",
                  case_dir.string(), name));
}

// The case folders of every set folder present, sorted.
std::vector<std::pair<std::string, fs::path>> case_folders(const fs::path& root) {
  PSAM_CHECK(fs::is_directory(root), root.string() + ": no such directory");
  std::vector<std::pair<std::string, fs::path>> out;
  for (const auto& [folder, set] : kSetFolders) {
    if (!fs::is_directory(root / folder)) continue;
    std::vector<fs::path> cases;
    for (const auto& d : fs::directory_iterator(root / folder))
      if (d.is_directory()) cases.push_back(d.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& c : cases) out.emplace_back(set, c);
  }
  PSAM_CHECK(!out.empty(), fmt::format("{}: no case folders under Training-400/, "
                                       "Validation-400/ or Test-400/ (the REFUGE multi-rater "
                                       "layout)",
                                       root.string()));
  return out;
}

}  // namespace

ImageImportReport import_refuge(const std::string& root_dir, const std::string& out_dir,
                                const RefugeImportOptions& o) {
  PSAM_CHECK(o.target == "cup" || o.target == "disc",
             fmt::format("REFUGE target '{}': expected cup or disc", o.target));
  const fs::path root(root_dir);
  const auto cases = case_folders(root);
  // The raters: as many as the first case has disc masks, numbered from 1.
  int64_t k = 0;
  while (fs::exists(mask_path(cases.front().second, "disc", k + 1))) ++k;
  PSAM_CHECK(k > 0, mask_path(cases.front().second, "disc", 1).string() +
                        ": missing (no rater masks for the first case)");
  ImageImportReport report;
  for (int64_t r = 1; r <= k; ++r) report.raters.push_back(fmt::format("rater{}", r));

  std::vector<ImageSetEntry> entries;
  for (const auto& [set, dir] : cases) {
    ImageSetEntry e;
    const std::string folder = dir.parent_path().filename().string();
    e.id = folder + "/" + dir.filename().string();
    e.patient = e.id;
    e.image = image_path(dir);
    e.split = set;
    for (int64_t r = 1; r <= k; ++r) {
      const fs::path target = mask_path(dir, o.target, r), disc = mask_path(dir, "disc", r);
      e.masks.push_back({target, fs::exists(target)});
      if (fs::exists(disc)) e.crop_centre.push_back(disc);
    }
    PSAM_CHECK(!fs::exists(mask_path(dir, o.target, k + 1)),
               fmt::format("{}: more than the {} raters of the first case",
                           mask_path(dir, o.target, k + 1).string(), k));
    e.extra = {{"source_set", folder}, {"case", dir.filename().string()}};
    entries.push_back(std::move(e));
  }
  nlohmann::json provenance = {{"importer", "psam data import-refuge"},
                               {"source", fs::absolute(root).string()},
                               {"target", o.target},
                               {"threshold", o.threshold},
                               {"missing_mask", name_of(o.missing)}};
  if (o.crop) provenance["crop_around_disc"] = {o.crop->height, o.crop->width};
  if (o.resize) provenance["resize"] = {o.resize->height, o.resize->width};
  write_image_set(std::move(entries), out_dir, o, o.keep_folder_split, "refuge2-" + o.target,
                  std::move(provenance), report);
  return report;
}

}  // namespace psam::data
