// The docs cannot drift from the binary: every psam command line quoted in a code block of
// README.md or docs/*.md names only subcommands, options and config keys that exist (values are
// the commands' own business and have their own tests).
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "cli.h"
#include "psam/util/fs.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

struct Quoted {
  std::string where;  // file:line
  std::vector<std::string> args;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The `psam ...` lines of the fenced code blocks of one Markdown file ("$ " prompts and "#"
// comments removed, "\" continuations joined; python and YAML blocks hold none).
std::vector<Quoted> quoted_commands(const fs::path& file) {
  std::vector<Quoted> out;
  std::istringstream in(read_file(file.string()));
  bool in_block = false;
  int number = 0;
  std::string pending, pending_where;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      continue;
    }
    if (!in_block) continue;
    std::string text = pending.empty() ? line : pending + " " + line;
    if (pending.empty()) {
      const size_t start = text.find_first_not_of(" ");
      if (start == std::string::npos) continue;
      text = text.substr(start);
      if (text.rfind("$ ", 0) == 0) text = text.substr(2);
      if (text.rfind("psam ", 0) != 0) continue;
      pending_where = fmt::format("{}:{}", file.filename().string(), number);
    }
    if (!text.empty() && text.back() == '\\') {
      pending = text.substr(0, text.size() - 1);
      continue;
    }
    pending.clear();
    if (const size_t hash = text.find(" #"); hash != std::string::npos) text.resize(hash);
    auto args = words(text);
    args.erase(args.begin());  // "psam"
    out.push_back({pending_where, args});
  }
  return out;
}

TEST(Docs, EveryQuotedCommandLineMatchesTheBinary) {
  const fs::path root = PSAM_SOURCE_DIR;
  std::vector<fs::path> files = {root / "README.md"};
  for (const auto& entry : fs::directory_iterator(root / "docs"))
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  size_t checked = 0;
  for (const auto& file : files) {
    for (const auto& q : quoted_commands(file)) {
      ++checked;
      EXPECT_EQ(check_command_line(q.args), "") << q.where;
    }
  }
  // The docs quote dozens of command lines; none found means the reader above broke.
  EXPECT_GE(checked, 40u);
}

// The check itself: what it must refuse.
TEST(Docs, TheCheckRefusesWhatTheBinaryRefuses) {
  EXPECT_EQ(check_command_line({"data", "synth", "data/synthetic", "--size", "64"}), "");
  EXPECT_EQ(check_command_line({"train", "c.yaml", "train.lr=1e-4", "--resume", "auto"}), "");
  EXPECT_EQ(check_command_line({"info", "--models", "--threads", "2"}), "");
  EXPECT_NE(check_command_line({"data", "synth", "--out", "data/synthetic"}), "");
  EXPECT_NE(check_command_line({"train", "c.yaml", "data.augmentation=true"}), "");
  EXPECT_NE(check_command_line({"predict", "--samples", "4", "--bogus"}), "");
  EXPECT_NE(check_command_line({"--threads", "2"}), "");
}

}  // namespace
}  // namespace psam::cli
