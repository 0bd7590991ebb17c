#include "data_lidc.h"

#include <gtest/gtest.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/lidc_test_util.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace {

// `psam data ARGS...` with only the LIDC subcommands registered.
int run_data(const std::vector<std::string>& args, std::string* out = nullptr) {
  CLI::App app{"psam"};
  auto* data = app.add_subcommand("data");
  std::ostringstream o, e;
  int rc = 0;
  psam::cli::add_lidc_data_commands(*data, {o, e}, rc);
  std::vector<std::string> argv{"data"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::reverse(argv.begin(), argv.end());
  app.parse(argv);
  if (out) *out = o.str();
  return rc;
}

TEST(DataLidcCli, LidcStatsWritesMarkdownAndJson) {
  PSAM_REQUIRE_REALDATA("lidc_xml_annotations/examples/186_195.xml");
  psam::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("xml/186"));
  for (const char* name : {"186_195.xml", "185_068.xml"})
    std::filesystem::copy_file(psam::testing::lidc_example(name),
                               dir.file(std::string("xml/186/") + name));
  std::string out;
  EXPECT_EQ(run_data({"lidc-stats", "--xml-root", dir.file("xml"), "--out", dir.file("s.md"),
                      "--json", dir.file("s.json")},
                     &out),
            0);
  EXPECT_NE(out.find("1 physical nodules"), std::string::npos) << out;
  const std::string md = psam::read_file(dir.file("s.md"));
  EXPECT_NE(md.find("2 XML files (1 CT series read, 1 chest-radiograph files"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| physical nodules | 1 |"), std::string::npos) << md;
  const auto j = nlohmann::json::parse(psam::read_file(dir.file("s.json")));
  EXPECT_EQ(j["counts"]["slices"], 9);
  EXPECT_EQ(j["nodules_by_readers"][4], 1);

  // Without --out the report goes to stdout.
  EXPECT_EQ(run_data({"lidc-stats", "--xml-root", dir.file("xml")}, &out), 0);
  EXPECT_EQ(out, md);
}

TEST(DataLidcCli, LidcStatsErrors) {
  psam::testing::TempDir dir;
  EXPECT_THROW(run_data({"lidc-stats", "--xml-root", dir.file("nope")}), CLI::ValidationError);
  EXPECT_THROW(run_data({"lidc-stats", "--xml-root", dir.path()}), psam::Error);  // no CT read
}

}  // namespace
