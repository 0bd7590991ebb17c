#include "psam/data/importers/lidc_xml.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <pugixml.hpp>

#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::data {
namespace {

constexpr const char* kLidcNamespace = "http://www.nih.gov";

// Element name without a namespace prefix: the files use a default namespace, but a prefixed
// copy ("nih:roi") is the same document and must read the same.
std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view name) {
  for (auto c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c) == name) return c;
  }
  return {};
}

template <typename F>
void for_each_child(const pugi::xml_node& node, std::string_view name, F&& f) {
  for (auto c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c) == name) f(c);
  }
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

// Parses with the context of where the element sits, for one-line errors.
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  std::string text(const pugi::xml_node& node, std::string_view element,
                   const std::string& where) const {
    const auto c = child(node, element);
    PSAM_CHECK(c, fmt::format("{}: {}: missing <{}>", name_, where, element));
    return trim(c.child_value());
  }

  std::string optional_text(const pugi::xml_node& node, std::string_view element) const {
    const auto c = child(node, element);
    return c ? trim(c.child_value()) : std::string();
  }

  double number(const pugi::xml_node& node, std::string_view element,
                const std::string& where) const {
    const std::string s = text(node, element, where);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    PSAM_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0,
               fmt::format("{}: {}: <{}> '{}' is not a number", name_, where, element, s));
    return v;
  }

  int integer(const pugi::xml_node& node, std::string_view element,
              const std::string& where) const {
    const double v = number(node, element, where);
    // Range first: converting a double outside int's range is undefined behaviour.
    PSAM_CHECK(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max() &&
                   v == static_cast<int>(v),
               fmt::format("{}: {}: <{}> {} is not an integer", name_, where, element, v));
    return static_cast<int>(v);
  }

  // A pixel index: DICOM images have at most 65535 rows and columns.
  LidcPoint point(const pugi::xml_node& node, const std::string& where) const {
    const LidcPoint p{integer(node, "xCoord", where), integer(node, "yCoord", where)};
    PSAM_CHECK(p.x >= 0 && p.x <= 65535 && p.y >= 0 && p.y <= 65535,
               fmt::format("{}: {}: point ({}, {}) outside 0..65535", name_, where, p.x, p.y));
    return p;
  }

  bool boolean(const pugi::xml_node& node, std::string_view element,
               const std::string& where) const {
    std::string s = text(node, element, where);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
    PSAM_CHECK(s == "TRUE" || s == "FALSE",
               fmt::format("{}: {}: <{}> '{}' is not TRUE or FALSE", name_, where, element, s));
    return s == "TRUE";
  }

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

std::optional<LidcCharacteristics> read_characteristics(const Reader& r,
                                                        const pugi::xml_node& nodule,
                                                        const std::string& where) {
  const auto node = child(nodule, "characteristics");
  if (!node || !node.first_child()) return std::nullopt;  // some files carry an empty element
  LidcCharacteristics c;
  const std::pair<const char*, int*> fields[] = {{"subtlety", &c.subtlety},
                                                 {"internalStructure", &c.internal_structure},
                                                 {"calcification", &c.calcification},
                                                 {"sphericity", &c.sphericity},
                                                 {"margin", &c.margin},
                                                 {"lobulation", &c.lobulation},
                                                 {"spiculation", &c.spiculation},
                                                 {"texture", &c.texture},
                                                 {"malignancy", &c.malignancy}};
  for (const auto& [element, value] : fields) {
    if (child(node, element)) *value = r.integer(node, element, where + ", characteristics");
  }
  return c;
}

LidcNodule read_nodule(const Reader& r, const pugi::xml_node& node, const std::string& where) {
  LidcNodule nodule;
  nodule.id = r.text(node, "noduleID", where);
  const std::string here = fmt::format("{}, nodule '{}'", where, nodule.id);
  nodule.characteristics = read_characteristics(r, node, here);
  for_each_child(node, "roi", [&](const pugi::xml_node& roi_node) {
    const std::string at = fmt::format("{}, roi {}", here, nodule.rois.size() + 1);
    LidcRoi roi;
    roi.z = r.number(roi_node, "imageZposition", at);
    roi.sop_uid = r.text(roi_node, "imageSOP_UID", at);
    roi.inclusion = r.boolean(roi_node, "inclusion", at);
    for_each_child(roi_node, "edgeMap",
                   [&](const pugi::xml_node& p) { roi.edge.push_back(r.point(p, at)); });
    PSAM_CHECK(!roi.edge.empty(), fmt::format("{}: {}: <roi> without <edgeMap>", r.name(), at));
    nodule.rois.push_back(std::move(roi));
  });
  return nodule;
}

LidcReadingSession read_session(const Reader& r, const pugi::xml_node& node,
                                const std::string& where) {
  LidcReadingSession s;
  s.radiologist_id = r.optional_text(node, "servicingRadiologistID");
  s.annotation_version = r.optional_text(node, "annotationVersion");
  for_each_child(node, "unblindedReadNodule",
                 [&](const pugi::xml_node& n) { s.nodules.push_back(read_nodule(r, n, where)); });
  for_each_child(node, "nonNodule", [&](const pugi::xml_node& n) {
    LidcNonNodule nn;
    nn.id = r.optional_text(n, "nonNoduleID");
    const std::string at = fmt::format("{}, nonNodule '{}'", where, nn.id);
    nn.z = r.number(n, "imageZposition", at);
    nn.sop_uid = r.text(n, "imageSOP_UID", at);
    const auto locus = child(n, "locus");
    PSAM_CHECK(locus, fmt::format("{}: {}: missing <locus>", r.name(), at));
    nn.locus = r.point(locus, at);
    s.non_nodules.push_back(std::move(nn));
  });
  return s;
}

LidcXml read_document(const pugi::xml_document& doc, const std::string& name) {
  const Reader r(name);
  const auto root = doc.document_element();
  LidcXml out;
  out.path = name;
  const auto header = child(root, "ResponseHeader");
  if (local_name(root) == "IdriReadMessage") {
    // Chest-radiograph reads: another schema, with no CT outlines.
    out.kind = LidcXmlKind::kChestRadiograph;
    if (header) {
      out.version = r.optional_text(header, "Version");
      out.series_uid = r.optional_text(header, "SeriesInstanceUID");
      out.study_uid = r.optional_text(header, "StudyInstanceUID");
    }
    return out;
  }
  PSAM_CHECK(local_name(root) == "LidcReadMessage",
             fmt::format("{}: root element <{}>: expected <LidcReadMessage> (LIDC CT read) or "
                         "<IdriReadMessage> (chest radiograph)",
                         name, root.name()));
  // The namespace is declared on the root, with or without a prefix.
  bool nih = false;
  for (const auto& a : root.attributes()) {
    const std::string_view attr = a.name();
    if ((attr == "xmlns" || attr.rfind("xmlns:", 0) == 0) &&
        std::string_view(a.value()) == kLidcNamespace)
      nih = true;
  }
  PSAM_CHECK(nih,
             fmt::format("{}: <LidcReadMessage> is not in namespace {}", name, kLidcNamespace));
  PSAM_CHECK(header, fmt::format("{}: missing <ResponseHeader>", name));
  out.version = r.optional_text(header, "Version");
  out.series_uid = r.text(header, "SeriesInstanceUid", "ResponseHeader");
  out.study_uid = r.optional_text(header, "StudyInstanceUID");
  out.task_description = r.optional_text(header, "TaskDescription");
  out.response_comments = r.optional_text(header, "ResponseComments");
  for_each_child(root, "readingSession", [&](const pugi::xml_node& s) {
    out.sessions.push_back(
        read_session(r, s, fmt::format("readingSession {}", out.sessions.size() + 1)));
  });
  return out;
}

// Deep equality, to tell byte-different copies of the same reads from real conflicts.
bool same(const LidcNodule& a, const LidcNodule& b);
bool same(const LidcNonNodule& a, const LidcNonNodule& b);
bool same(const LidcReadingSession& a, const LidcReadingSession& b);

bool same(const LidcPoint& a, const LidcPoint& b) { return a.x == b.x && a.y == b.y; }

bool same(const LidcRoi& a, const LidcRoi& b) {
  return a.z == b.z && a.sop_uid == b.sop_uid && a.inclusion == b.inclusion &&
         std::equal(a.edge.begin(), a.edge.end(), b.edge.begin(), b.edge.end(),
                    [](const auto& p, const auto& q) { return same(p, q); });
}

template <typename T>
bool same_list(const std::vector<T>& a, const std::vector<T>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const T& x, const T& y) { return same(x, y); });
}

bool same(const LidcNodule& a, const LidcNodule& b) {
  return a.id == b.id && a.characteristics.has_value() == b.characteristics.has_value() &&
         same_list(a.rois, b.rois);
}

bool same(const LidcNonNodule& a, const LidcNonNodule& b) {
  return a.id == b.id && a.z == b.z && a.sop_uid == b.sop_uid && same(a.locus, b.locus);
}

bool same(const LidcReadingSession& a, const LidcReadingSession& b) {
  return a.radiologist_id == b.radiologist_id && same_list(a.nodules, b.nodules) &&
         same_list(a.non_nodules, b.non_nodules);
}

bool is_correction(const std::string& path) {
  return std::filesystem::path(path).filename().string().find("correction") != std::string::npos;
}

}  // namespace

bool LidcNodule::has_contour() const {
  return std::any_of(rois.begin(), rois.end(), [](const LidcRoi& r) { return r.edge.size() > 1; });
}

LidcXml parse_lidc_xml(const std::string& text, const std::string& name) {
  pugi::xml_document doc;
  const auto result = doc.load_buffer(text.data(), text.size());
  PSAM_CHECK(result, fmt::format("{}: not well-formed XML at byte {}: {}", name, result.offset,
                                 result.description()));
  return read_document(doc, name);
}

LidcXml read_lidc_xml(const std::string& path) { return parse_lidc_xml(read_file(path), path); }

std::vector<std::string> find_xml_files(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  PSAM_CHECK(fs::is_directory(root, ec), fmt::format("XML root {}: not a directory", root));
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".xml")
      files.push_back(it->path().string());
  }
  PSAM_CHECK(!ec, fmt::format("XML root {}: {}", root, ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

LidcArchive read_lidc_archive(const std::string& root) {
  LidcArchive archive;
  const auto files = find_xml_files(root);
  archive.files = static_cast<int>(files.size());
  std::map<std::string, std::size_t> by_series;  // series UID -> index in reads
  for (const auto& path : files) {
    LidcXml xml;
    try {
      xml = read_lidc_xml(path);
    } catch (const Error& e) {
      log::warn(fmt::format("skipping {}", e.what()));
      archive.failed.push_back(e.what());
      continue;
    }
    if (xml.kind == LidcXmlKind::kChestRadiograph) {
      log::debug(fmt::format("{}: chest radiograph read (IdriReadMessage), skipped", path));
      ++archive.chest_radiographs;
      continue;
    }
    const auto [it, inserted] = by_series.emplace(xml.series_uid, archive.reads.size());
    if (inserted) {
      archive.reads.push_back(std::move(xml));
      continue;
    }
    ++archive.duplicates;
    auto& kept = archive.reads[it->second];
    if (is_correction(path) && !is_correction(kept.path)) {
      log::info(fmt::format("{}: TCIA correction of series {} replaces {}", path, xml.series_uid,
                            kept.path));
      kept = std::move(xml);
    } else if (is_correction(kept.path) && !is_correction(path)) {
      log::info(fmt::format("{}: superseded by TCIA's correction {}", path, kept.path));
    } else if (same_list(kept.sessions, xml.sessions)) {
      log::debug(fmt::format("{}: same reads as {}, skipped", path, kept.path));
    } else {
      log::warn(fmt::format("{}: series {} already read from {} with other contents; keeping {}",
                            path, xml.series_uid, kept.path, kept.path));
    }
  }
  std::sort(archive.reads.begin(), archive.reads.end(),
            [](const LidcXml& a, const LidcXml& b) { return a.path < b.path; });
  return archive;
}

}  // namespace psam::data
