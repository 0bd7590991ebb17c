#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "psam/util/error.h"
#include "psam/util/log.h"
#include "support/testing.h"

// A named namespace: the fixture is the base of the TEST_F classes, which a unity batch would
// otherwise flag (-Wsubobject-linkage).
namespace log_test {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The console stays quiet during these tests; the file sinks log every level regardless.
class Log : public ::testing::Test {
 protected:
  void SetUp() override { psam::log::set_console_level("off"); }
  void TearDown() override {
    psam::log::close_files();
    psam::log::set_console_level("info");
  }
  psam::support::TempDir dir_;
};

}  // namespace log_test

using log_test::Log;
using log_test::read_lines;

TEST_F(Log, FileGetsEveryLevelVerbatim) {
  const std::string path = dir_.path() + "/train.log";
  psam::log::add_file(path);
  psam::log::add_file(path);  // a second add of the same file must not double every line
  psam::log::debug("step {1} debug");
  psam::log::info("info 50%");
  psam::log::warn("warn");
  psam::log::error("error");
  psam::log::file_info("progress");
  psam::log::close_files();
  psam::log::info("after close");

  const std::regex line(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] (\w+) (.*))");
  const std::vector<std::pair<std::string, std::string>> expected = {{"debug", "step {1} debug"},
                                                                     {"info", "info 50%"},
                                                                     {"warning", "warn"},
                                                                     {"error", "error"},
                                                                     {"info", "progress"}};
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), expected.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i], m, line)) << lines[i];
    EXPECT_EQ(m[1], expected[i].first);
    EXPECT_EQ(m[2], expected[i].second);
  }
}

TEST_F(Log, AppendsAndFeedsSeveralFiles) {
  const std::string a = dir_.path() + "/a.log";
  const std::string b = dir_.path() + "/b.log";
  std::ofstream(a) << "earlier run\n";
  psam::log::add_file(a);
  psam::log::info("one");
  psam::log::add_file(b);
  psam::log::info("two");
  psam::log::close_files();
  const auto lines_a = read_lines(a);
  const auto lines_b = read_lines(b);
  ASSERT_EQ(lines_a.size(), 3u);
  EXPECT_EQ(lines_a[0], "earlier run");
  EXPECT_NE(lines_a[1].find("info one"), std::string::npos);
  EXPECT_NE(lines_a[2].find("info two"), std::string::npos);
  ASSERT_EQ(lines_b.size(), 1u);
  EXPECT_NE(lines_b[0].find("info two"), std::string::npos);
}

TEST_F(Log, ErrorsNameTheLevelOrFile) {
  try {
    psam::log::set_console_level("loud");
    FAIL() << "no throw";
  } catch (const psam::Error& e) {
    EXPECT_STREQ(e.what(), "log level 'loud': expected debug, info, warn, error or off");
  }
  std::ofstream(dir_.path() + "/file") << "x";
  const std::string bad = dir_.path() + "/file/train.log";  // a regular file as directory
  try {
    psam::log::add_file(bad);
    FAIL() << "no throw";
  } catch (const psam::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot open log file " + bad + ": ", 0), 0u) << e.what();
  }
}

// Files come and go while other threads log (a data loader warning mid-run): every line that
// lands in a file is whole.
TEST_F(Log, FilesChangeWhileThreadsLog) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&stop, t] {
      for (int i = 0; !stop; ++i)
        psam::log::debug("thread " + std::to_string(t) + " line " + std::to_string(i));
    });
  }
  std::vector<std::string> paths;
  for (int i = 0; i < 20; ++i) {
    paths.push_back(dir_.path() + "/run" + std::to_string(i) + ".log");
    psam::log::add_file(paths.back());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (i % 3 == 2) psam::log::close_files();
  }
  stop = true;
  for (auto& thread : threads) thread.join();
  psam::log::close_files();
  const std::regex line(R"(\[[^\]]+\] debug thread \d line \d+)");
  size_t total = 0;
  for (const auto& path : paths) {
    for (const auto& text : read_lines(path)) {
      ASSERT_TRUE(std::regex_match(text, line)) << path << ": " << text;
      ++total;
    }
  }
  EXPECT_GT(total, 0u);
}
