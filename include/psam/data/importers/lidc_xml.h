// LIDC-IDRI reading-session XML (TCIA "LIDC-XML-only"): one file per CT series with the blinded
// and unblinded reads of (usually) four radiologists. Every schema version of the archive is read
// (1.7, 1.8, 1.8.1 and TCIA's correction file); the chest-radiograph schema (IdriReadMessage) is
// recognised and returned as kChestRadiograph with no sessions, so callers can skip it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace psam::data {

// A pixel of the CT slice grid: x = column, y = row (as in <edgeMap> and <locus>).
struct LidcPoint {
  int x = 0;
  int y = 0;
};

// One outline of one nodule on one slice.
struct LidcRoi {
  double z = 0;                 // imageZposition (mm), the slice's ImagePositionPatient z
  std::string sop_uid;          // imageSOP_UID of the slice
  bool inclusion = true;        // false: the polygon is a hole cut out of the nodule
  std::vector<LidcPoint> edge;  // <edgeMap> points in drawing order (one point for < 3 mm)
};

// The nine LIDC ratings of a nodule >= 3 mm; 0 where the file leaves one out.
struct LidcCharacteristics {
  int subtlety = 0, internal_structure = 0, calcification = 0, sphericity = 0, margin = 0,
      lobulation = 0, spiculation = 0, texture = 0, malignancy = 0;
};

// One reader's <unblindedReadNodule>. Nodules >= 3 mm are outlined (rois with several points);
// nodules < 3 mm are a single point, i.e. one roi with one edge point.
struct LidcNodule {
  std::string id;  // noduleID, unique within the session only
  std::optional<LidcCharacteristics> characteristics;
  std::vector<LidcRoi> rois;

  // True if any roi has more than one edge point (the LIDC ">= 3 mm" outline).
  bool has_contour() const;
};

// A <nonNodule> mark: a point the reader judged to be a non-nodule lesion >= 3 mm.
struct LidcNonNodule {
  std::string id;
  double z = 0;
  std::string sop_uid;
  LidcPoint locus;
};

struct LidcReadingSession {
  std::string radiologist_id;  // servicingRadiologistID: numeric, "anon" or "anonymous"
  std::string annotation_version;
  std::vector<LidcNodule> nodules;  // every unblindedReadNodule, in file order
  std::vector<LidcNonNodule> non_nodules;
};

enum class LidcXmlKind { kCt, kChestRadiograph };

struct LidcXml {
  std::string path;
  LidcXmlKind kind = LidcXmlKind::kCt;
  std::string version;  // ResponseHeader/Version
  std::string series_uid, study_uid;
  std::string task_description, response_comments;
  std::vector<LidcReadingSession> sessions;  // empty for a chest radiograph file
};

// Parses one file; psam::Error naming the file and the element at fault if it is not LIDC XML.
LidcXml read_lidc_xml(const std::string& path);

// Same, from text already in memory; name is used in error messages.
LidcXml parse_lidc_xml(const std::string& text, const std::string& name);

// Every *.xml file under root (recursively), sorted by path.
std::vector<std::string> find_xml_files(const std::string& root);

// The CT reads of an XML tree, one per series.
struct LidcArchive {
  std::vector<LidcXml> reads;       // sorted by path
  int files = 0;                    // *.xml files found
  int chest_radiographs = 0;        // IdriReadMessage files, skipped
  int duplicates = 0;               // further files of a series already read, skipped
  std::vector<std::string> failed;  // "path: reason" for files that could not be read
};

// Reads every *.xml under root, logging what it skips. When several files describe one series,
// TCIA's correction file (a name containing "correction") replaces the others; otherwise the
// first path wins, with a warning if the contents differ (the archive holds byte-for-byte copies
// of some series under several names).
LidcArchive read_lidc_archive(const std::string& root);

}  // namespace psam::data
