#include "psam/data/importers/import_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "data/importers/image_set.h"
#include "psam/util/error.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// A path pattern: the folder before its first placeholder or wildcard, and a regular expression
// for the paths below it, with the capture groups of {stem} and {rater}.
struct PathPattern {
  std::string text;
  fs::path base;
  std::regex regex;
  int stem_group = 0, rater_group = 0;  // 0: absent
};

PathPattern parse_pattern(const std::string& text, bool with_rater, const char* option) {
  PSAM_CHECK(!text.empty() && text.front() != '/',
             fmt::format("{} '{}': expected a path relative to ROOT", option, text));
  PathPattern p;
  p.text = text;
  std::string expr;
  bool fixed = true;  // still in the literal folder prefix
  std::string component;
  int group = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find('/', start), text.size());
    component = text.substr(start, end - start);
    const bool literal = component.find_first_of("{*?") == std::string::npos;
    if (fixed && literal && end < text.size()) {
      p.base /= component;
    } else {
      fixed = false;
      if (!expr.empty()) expr += '/';
      for (size_t i = 0; i < component.size(); ++i) {
        const char c = component[i];
        if (component.compare(i, 6, "{stem}") == 0 || component.compare(i, 7, "{rater}") == 0) {
          const bool stem = component[i + 1] == 's';
          int& slot = stem ? p.stem_group : p.rater_group;
          PSAM_CHECK(slot == 0, fmt::format("{} '{}': {} appears twice", option, text,
                                            stem ? "{stem}" : "{rater}"));
          slot = ++group;
          expr += "([^/]+)";
          i += stem ? 5 : 6;
        } else if (c == '*') {
          expr += "[^/]*";
        } else if (c == '?') {
          expr += "[^/]";
        } else {
          if (std::string("\\^$.|+()[]{}").find(c) != std::string::npos) expr += '\\';
          expr += c;
        }
      }
    }
    start = end + 1;
  }
  PSAM_CHECK(p.stem_group != 0, fmt::format("{} '{}': needs {{stem}}", option, text));
  PSAM_CHECK(
      (p.rater_group != 0) == with_rater,
      fmt::format("{} '{}': {}", option, text, with_rater ? "needs {rater}" : "takes no {rater}"));
  p.regex = std::regex(expr);
  return p;
}

bool readable_image(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".tif" || ext == ".tiff" ||
         ext == ".bmp";
}

struct Match {
  std::string stem, rater;
  fs::path path;
};

// Every image file below root/pattern.base whose path matches the pattern, sorted by path;
// matching files in formats psam does not read (GIF, as the DRIVE dataset ships) go to
// `unsupported`.
std::vector<Match> find_files(const fs::path& root, const PathPattern& p,
                              std::vector<std::string>& unsupported) {
  const fs::path base = root / p.base;
  std::vector<Match> out;
  if (!fs::is_directory(base)) return out;
  for (const auto& f : fs::recursive_directory_iterator(base)) {
    if (!f.is_regular_file()) continue;
    const std::string rel = f.path().lexically_relative(base).generic_string();
    std::smatch m;
    if (!std::regex_match(rel, m, p.regex)) continue;
    if (!readable_image(f.path())) {
      unsupported.push_back(f.path().string());
      continue;
    }
    out.push_back({m[p.stem_group], p.rater_group ? m[p.rater_group].str() : "", f.path()});
  }
  std::sort(out.begin(), out.end(), [](const Match& a, const Match& b) { return a.path < b.path; });
  return out;
}

// What the pattern names for a (stem, rater): the missing file's name in reports.
std::string expected_path(const fs::path& root, const PathPattern& p, const std::string& stem,
                          const std::string& rater) {
  std::string s = p.text;
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"{stem}", stem}, {"{rater}", rater}}) {
    const size_t at = s.find(key);
    if (at != std::string::npos) s.replace(at, key.size(), value);
  }
  return (root / s).string();
}

std::string patient_of(const std::string& stem, const std::optional<std::regex>& re,
                       const std::string& re_text, const fs::path& image) {
  if (!re) return stem;
  std::smatch m;
  PSAM_CHECK(
      std::regex_search(stem, m, *re),
      fmt::format("{}: --patient-regex '{}' does not match '{}'", image.string(), re_text, stem));
  const std::string patient = m.size() > 1 && m[1].matched ? m[1].str() : m[0].str();
  PSAM_CHECK(!patient.empty(), fmt::format("{}: --patient-regex '{}' gives an empty patient id",
                                           image.string(), re_text));
  return patient;
}

// "(N GIF files match it, e.g. X: a format psam does not read; convert them to PNG)", or "".
std::string unsupported_note(const std::vector<std::string>& files) {
  if (files.empty()) return "";
  std::set<std::string> kinds;
  for (const auto& f : files) {
    std::string ext = fs::path(f).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    kinds.insert(ext.empty() ? "extensionless" : ext.substr(1));
  }
  return fmt::format(" ({} {} file(s) match it, e.g. {}: a format psam does not read; convert "
                     "them to PNG, e.g. with ImageMagick's convert or Pillow)",
                     files.size(), fmt::join(kinds, "/"), files.front());
}

// Fills `report` as it goes, so that a failure leaves what was found in it.
void import_folder_into(const std::string& root_dir, const std::string& out_dir,
                        const FolderImportOptions& o, ImageImportReport& report) {
  const fs::path root(root_dir);
  PSAM_CHECK(fs::is_directory(root), root_dir + ": no such directory");
  const PathPattern image_pattern = parse_pattern(o.images, false, "--images");
  const PathPattern mask_pattern = parse_pattern(o.masks, true, "--masks");
  std::optional<std::regex> patient_re;
  if (!o.patient_regex.empty()) {
    try {
      patient_re.emplace(o.patient_regex);
    } catch (const std::regex_error& e) {
      fail(fmt::format("--patient-regex '{}': {}", o.patient_regex, e.what()));
    }
  }

  std::map<std::string, fs::path> images;
  for (const Match& m : find_files(root, image_pattern, report.unsupported)) {
    const auto [it, fresh] = images.emplace(m.stem, m.path);
    PSAM_CHECK(fresh, fmt::format("{} and {}: two images named '{}'", it->second.string(),
                                  m.path.string(), m.stem));
  }
  PSAM_CHECK(!images.empty(), fmt::format("{}: no image files match '{}' (PNG, JPEG, TIFF, BMP){}",
                                          root_dir, o.images, unsupported_note(report.unsupported)));

  std::map<std::pair<std::string, std::string>, fs::path> masks;  // (rater, stem) -> file
  std::set<std::string> found_raters;
  std::vector<std::string> unsupported_masks;
  for (const Match& m : find_files(root, mask_pattern, unsupported_masks)) {
    const auto [it, fresh] = masks.emplace(std::make_pair(m.rater, m.stem), m.path);
    PSAM_CHECK(fresh, fmt::format("{} and {}: two masks of rater '{}' for '{}'",
                                  it->second.string(), m.path.string(), m.rater, m.stem));
    found_raters.insert(m.rater);
    if (!images.count(m.stem)) report.masks_without_images.push_back(m.path.string());
  }
  report.raters = o.raters.empty()
                      ? std::vector<std::string>(found_raters.begin(), found_raters.end())
                      : o.raters;
  report.unsupported.insert(report.unsupported.end(), unsupported_masks.begin(),
                            unsupported_masks.end());
  PSAM_CHECK(!report.raters.empty(), fmt::format("{}: no mask files match '{}'{}", root_dir,
                                                 o.masks, unsupported_note(unsupported_masks)));
  for (const std::string& rater : report.raters)
    PSAM_CHECK(
        found_raters.count(rater),
        fmt::format("{}: rater '{}' has no mask files matching '{}'", root_dir, rater, o.masks));

  std::vector<ImageSetEntry> entries;
  for (const auto& [stem, image] : images) {
    ImageSetEntry e;
    e.id = stem;
    e.patient = patient_of(stem, patient_re, o.patient_regex, image);
    e.image = image;
    for (const std::string& rater : report.raters) {
      const auto it = masks.find({rater, stem});
      e.masks.push_back(it != masks.end()
                            ? MaskFile{it->second, true}
                            : MaskFile{expected_path(root, mask_pattern, stem, rater), false});
    }
    e.extra = {{"image_file", image.lexically_relative(root).generic_string()}};
    entries.push_back(std::move(e));
  }
  nlohmann::json provenance = {{"importer", "psam data import-folder"},
                               {"source", fs::absolute(root).string()},
                               {"images", o.images},
                               {"masks", o.masks},
                               {"patient_regex", o.patient_regex},
                               {"threshold", o.threshold},
                               {"missing_mask", name_of(o.missing)}};
  fs::path name = fs::absolute(root).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();  // ROOT given with a trailing '/'
  write_image_set(std::move(entries), out_dir, o, /*keep_split=*/false, name.filename().string(),
                  std::move(provenance), report);
}

}  // namespace

ImageImportReport import_folder(const std::string& root_dir, const std::string& out_dir,
                                const FolderImportOptions& o, ImageImportReport* partial) {
  ImageImportReport report;
  try {
    import_folder_into(root_dir, out_dir, o, report);
    return report;
  } catch (...) {
    if (partial != nullptr) *partial = report;
    throw;
  }
}

}  // namespace psam::data
