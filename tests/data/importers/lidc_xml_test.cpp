#include "psam/data/importers/lidc_xml.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "data/lidc_test_util.h"
#include "psam/util/error.h"

namespace {

using psam::data::LidcXml;
using psam::data::LidcXmlKind;
using psam::testing::lidc_example;

// The per-file totals INDEX.csv lists.
struct Counts {
  int nodules = 0, contoured = 0, rois = 0, non_nodules = 0;
  bool operator==(const Counts& o) const {
    return nodules == o.nodules && contoured == o.contoured && rois == o.rois &&
           non_nodules == o.non_nodules;
  }
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{nodules " << c.nodules << ", contoured " << c.contoured << ", rois " << c.rois
            << ", non-nodules " << c.non_nodules << "}";
}

Counts counts(const LidcXml& xml) {
  Counts c;
  for (const auto& s : xml.sessions) {
    c.nodules += static_cast<int>(s.nodules.size());
    c.non_nodules += static_cast<int>(s.non_nodules.size());
    for (const auto& n : s.nodules) {
      c.contoured += n.has_contour();
      c.rois += static_cast<int>(n.rois.size());
    }
  }
  return c;
}

TEST(LidcXml, ReadsLidc0001SessionsNodulesAndRois) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_069.xml");
  const auto xml = psam::data::read_lidc_xml(lidc_example("185_069.xml"));
  EXPECT_EQ(xml.kind, LidcXmlKind::kCt);
  EXPECT_EQ(xml.version, "1.8.1");
  EXPECT_EQ(xml.series_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192");
  EXPECT_EQ(xml.study_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178");
  ASSERT_EQ(xml.sessions.size(), 4u);
  EXPECT_EQ(counts(xml), (Counts{13, 4, 41, 13}));  // INDEX.csv, tcia-lidc-xml/185/069.xml

  const auto& s0 = xml.sessions[0];
  EXPECT_EQ(s0.radiologist_id, "540461523");
  EXPECT_EQ(s0.annotation_version, "3.12");
  const auto& n0 = s0.nodules[0];
  EXPECT_EQ(n0.id, "Nodule 001");
  ASSERT_TRUE(n0.characteristics.has_value());
  EXPECT_EQ(n0.characteristics->subtlety, 5);
  EXPECT_EQ(n0.characteristics->calcification, 6);
  EXPECT_EQ(n0.characteristics->spiculation, 4);
  EXPECT_EQ(n0.characteristics->malignancy, 5);
  ASSERT_FALSE(n0.rois.empty());
  const auto& roi = n0.rois[0];
  EXPECT_DOUBLE_EQ(roi.z, -125.0);  // the file writes "-125.000000 " with a trailing space
  EXPECT_EQ(roi.sop_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.110383487652933113465768208719");
  EXPECT_TRUE(roi.inclusion);
  ASSERT_GE(roi.edge.size(), 2u);
  EXPECT_EQ(roi.edge[0].x, 312);  // xCoord = column
  EXPECT_EQ(roi.edge[0].y, 355);  // yCoord = row
  EXPECT_EQ(roi.edge[1].x, 311);
  EXPECT_EQ(roi.edge[1].y, 356);

  const auto& nn = s0.non_nodules.front();
  EXPECT_EQ(nn.id, "_Non-nodule 001");
  EXPECT_DOUBLE_EQ(nn.z, -185.0);
  EXPECT_EQ(nn.locus.x, 396);
  EXPECT_EQ(nn.locus.y, 216);
}

TEST(LidcXml, SmallNodulesAreSinglePoints) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_069.xml");
  const auto xml = psam::data::read_lidc_xml(lidc_example("185_069.xml"));
  int small = 0;
  for (const auto& s : xml.sessions) {
    for (const auto& n : s.nodules) {
      if (n.has_contour()) continue;
      ++small;
      EXPECT_FALSE(n.characteristics.has_value()) << n.id;
      for (const auto& r : n.rois) EXPECT_EQ(r.edge.size(), 1u) << n.id;
    }
  }
  EXPECT_EQ(small, 13 - 4);
}

TEST(LidcXml, ChestRadiographSchemaIsRecognisedAndCarriesNoReads) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_068.xml");
  const auto xml = psam::data::read_lidc_xml(lidc_example("185_068.xml"));
  EXPECT_EQ(xml.kind, LidcXmlKind::kChestRadiograph);
  EXPECT_EQ(xml.version, "1.4");
  EXPECT_EQ(xml.series_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357");
  EXPECT_TRUE(xml.sessions.empty());
}

TEST(LidcXml, ReadsEdgeCaseFiles) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/189_110.xml");
  const auto three = psam::data::read_lidc_xml(lidc_example("189_110.xml"));
  EXPECT_EQ(three.version, "1.8");
  ASSERT_EQ(three.sessions.size(), 3u);
  for (const auto& s : three.sessions) EXPECT_EQ(s.radiologist_id, "anon");
  EXPECT_EQ(counts(three), (Counts{11, 3, 33, 28}));

  const auto eight = psam::data::read_lidc_xml(lidc_example("188_011.xml"));
  ASSERT_EQ(eight.sessions.size(), 8u);
  EXPECT_EQ(eight.sessions[7].radiologist_id, "-1857107770");
  EXPECT_EQ(counts(eight), (Counts{20, 4, 27, 64}));

  // TCIA's corrected file for LIDC-IDRI-0101: version 1.7, merged anonymous reads.
  const auto fix = psam::data::read_lidc_xml(lidc_example("161-resubmitted-correction-3-9-12.xml"));
  EXPECT_EQ(fix.version, "1.7");
  EXPECT_EQ(fix.series_uid, "1.3.6.1.4.1.14519.5.2.1.6279.6001.340202188094259402036602717327");
  ASSERT_EQ(fix.sessions.size(), 4u);
  EXPECT_EQ(fix.sessions[0].radiologist_id, "anonymous");
  EXPECT_EQ(counts(fix), (Counts{21, 2, 23, 17}));
  EXPECT_DOUBLE_EQ(fix.sessions[0].nodules[0].rois[0].z, -253.0);
}

TEST(LidcXml, ExclusionContoursAreFlagged) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/185_071.xml");
  const auto xml = psam::data::read_lidc_xml(lidc_example("185_071.xml"));
  int exclusions = 0;
  for (const auto& s : xml.sessions)
    for (const auto& n : s.nodules)
      for (const auto& r : n.rois) exclusions += !r.inclusion;
  EXPECT_EQ(exclusions, 2);  // grep -c FALSE
}

const char* kMinimal = R"(<?xml version="1.0"?>
<{p}LidcReadMessage {ns}="http://www.nih.gov">
 <{p}ResponseHeader><{p}Version>1.8</{p}Version>
  <{p}SeriesInstanceUid> 1.2.3 </{p}SeriesInstanceUid></{p}ResponseHeader>
 <{p}readingSession><{p}servicingRadiologistID>anon</{p}servicingRadiologistID>
  <{p}unblindedReadNodule><{p}noduleID>N1</{p}noduleID>
   <{p}roi><{p}imageZposition>{z}</{p}imageZposition><{p}imageSOP_UID>9.9</{p}imageSOP_UID>
    <{p}inclusion>{inc}</{p}inclusion>
    <{p}edgeMap><{p}xCoord>10</{p}xCoord><{p}yCoord>20</{p}yCoord></{p}edgeMap>
    <{p}edgeMap><{p}xCoord>11</{p}xCoord><{p}yCoord>20</{p}yCoord></{p}edgeMap>
   </{p}roi></{p}unblindedReadNodule></{p}readingSession>
</{p}LidcReadMessage>)";

std::string minimal(const std::string& prefix, const std::string& z = "-1.5 ",
                    const std::string& inc = "TRUE") {
  std::string s = kMinimal;
  const auto replace = [&](const std::string& key, const std::string& value) {
    for (auto pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + value.size()))
      s.replace(pos, key.size(), value);
  };
  replace("{p}", prefix.empty() ? "" : prefix + ":");
  replace("{ns}", prefix.empty() ? "xmlns" : "xmlns:" + prefix);
  replace("{z}", z);
  replace("{inc}", inc);
  return s;
}

TEST(LidcXml, PrefixedNamespaceReadsLikeTheDefaultNamespace) {
  for (const std::string prefix : {"", "nih"}) {
    const auto xml = psam::data::parse_lidc_xml(minimal(prefix), "mini.xml");
    EXPECT_EQ(xml.series_uid, "1.2.3") << prefix;
    ASSERT_EQ(xml.sessions.size(), 1u) << prefix;
    const auto& roi = xml.sessions[0].nodules.at(0).rois.at(0);
    EXPECT_DOUBLE_EQ(roi.z, -1.5);
    EXPECT_EQ(roi.edge.size(), 2u);
    EXPECT_EQ(roi.edge[1].x, 11);
  }
}

void expect_error(const std::string& text, const std::string& fragment) {
  try {
    psam::data::parse_lidc_xml(text, "bad.xml");
    ADD_FAILURE() << "no error; expected one mentioning " << fragment;
  } catch (const psam::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.xml"), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(LidcXml, BadFilesGiveOneLineErrors) {
  expect_error("<LidcReadMessage", "not well-formed");
  expect_error("<Other xmlns=\"http://www.nih.gov\"/>", "<Other>");
  expect_error("<LidcReadMessage xmlns=\"urn:x\"/>", "namespace");
  expect_error(minimal("", "abc"), "imageZposition");
  expect_error(minimal("", "-1.5", "maybe"), "inclusion");
  std::string far = minimal("");
  far.replace(far.find("<xCoord>10<"), 11, "<xCoord>-3<");
  expect_error(far, "outside 0..65535");
  std::string no_z = minimal("");
  no_z.erase(no_z.find("<imageZposition>"),
             std::string("<imageZposition>-1.5 </imageZposition>").size());
  expect_error(no_z, "missing <imageZposition>");
  EXPECT_THROW(psam::data::read_lidc_xml("/nonexistent/x.xml"), psam::Error);
}

// Every file of the TCIA archive against INDEX.csv (built independently with Python's
// ElementTree): root schema, series UID and the per-file counts.
TEST(LidcXml, WholeArchiveMatchesIndex) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/LIDC-XML-only_tcia-lidc-xml.tar.xz");
  const std::string root = psam::testing::lidc_xml_archive();
  ASSERT_FALSE(root.empty()) << "could not extract the archive with tar";
  std::ifstream index(psam::testing::realdata_dir() + "/lidc_xml_annotations/INDEX.csv");
  std::string line;
  const auto next_line = [&] {
    if (!std::getline(index, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // INDEX.csv has CRLF endings
    return true;
  };
  next_line();
  ASSERT_EQ(line,
            "file,root,patient_id,modality,series_uid,study_uid,reading_sessions,"
            "unblinded_read_nodules,nodules_with_contours,rois,non_nodules");
  std::map<std::string, long> totals;
  int rows = 0;
  while (next_line()) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    ASSERT_EQ(f.size(), 11u) << line;
    ++rows;
    const auto xml = psam::data::read_lidc_xml(root + "/" + f[0]);
    const bool ct = f[1] == "LidcReadMessage";
    ASSERT_EQ(xml.kind, ct ? LidcXmlKind::kCt : LidcXmlKind::kChestRadiograph) << f[0];
    EXPECT_EQ(xml.series_uid, f[4]) << f[0];
    if (!ct) continue;
    EXPECT_EQ(xml.study_uid, f[5]) << f[0];
    EXPECT_EQ(static_cast<int>(xml.sessions.size()), std::stoi(f[6])) << f[0];
    const Counts c = counts(xml);
    EXPECT_EQ(c, (Counts{std::stoi(f[7]), std::stoi(f[8]), std::stoi(f[9]), std::stoi(f[10])}))
        << f[0];
    totals["ct"] += 1;
    totals["sessions"] += static_cast<long>(xml.sessions.size());
    totals["nodules"] += c.nodules;
    totals["contoured"] += c.contoured;
    totals["rois"] += c.rois;
  }
  EXPECT_EQ(rows, 1318);
  EXPECT_EQ(totals["ct"], 1035);
  EXPECT_EQ(totals["sessions"], 4143);
  EXPECT_EQ(totals["nodules"], 20362);
  EXPECT_EQ(totals["contoured"], 7032);  // SOURCE.txt: 7,032 reader-nodule contour annotations
  EXPECT_EQ(totals["rois"], 55475);      // SOURCE.txt: 55,475 <roi> polygons
}

TEST(LidcXml, ArchiveKeepsOneReadPerSeriesAndAppliesTheCorrection) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/LIDC-XML-only_tcia-lidc-xml.tar.xz");
  const std::string root = psam::testing::lidc_xml_archive();
  ASSERT_FALSE(root.empty());
  const auto archive = psam::data::read_lidc_archive(root);
  EXPECT_EQ(archive.files, 1319);  // 1318 under tcia-lidc-xml/ + the correction file
  EXPECT_EQ(archive.chest_radiographs, 283);
  EXPECT_TRUE(archive.failed.empty());
  EXPECT_EQ(archive.reads.size(), 1018u);  // distinct CT series in INDEX.csv
  EXPECT_EQ(archive.duplicates, 1036 - 1018);
  int corrections = 0;
  for (const auto& xml : archive.reads) {
    if (xml.series_uid == "1.3.6.1.4.1.14519.5.2.1.6279.6001.340202188094259402036602717327") {
      EXPECT_NE(xml.path.find("161-resubmitted-correction"), std::string::npos) << xml.path;
      ++corrections;
    }
  }
  EXPECT_EQ(corrections, 1);
}

}  // namespace
