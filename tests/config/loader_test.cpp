// Config files and overrides: _base_ inheritance, deep merge, overrides, and the errors for
// broken files.
#include <gtest/gtest.h>

#include "config/binder.h"
#include "config/sample_config.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::config::test {
namespace {

class Loading : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& yaml) {
    return dir_.write(name, yaml);
  }
  std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
    try {
      load<Sample>(path, overrides);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  std::string root() const { return dir_.path(); }
  support::TempDir dir_;
};

TEST_F(Loading, MultiLevelInheritanceWithRelativePaths) {
  write("common/defaults.yaml", "count: 1\nname: defaults\nlr: 0.1\ninner: {depth: 10}\n");
  // Relative to model/, not to the directory the loader was started from.
  write("model/base.yaml", "_base_: ../common/defaults.yaml\ncount: 2\nname: model\n");
  const std::string top = write("experiments/exp.yaml", "_base_: ../model/base.yaml\ncount: 3\n");
  const Sample s = load<Sample>(top);
  EXPECT_EQ(s.count, 3);       // the file itself wins
  EXPECT_EQ(s.name, "model");  // then its base
  EXPECT_EQ(s.lr, 0.1);        // then the base's base
  EXPECT_EQ(s.inner.depth, 10);
  EXPECT_EQ(s.ratio, 0.5f);  // nobody set it: the struct's default
}

TEST_F(Loading, ListOfBasesMergesInOrder) {
  write("a.yaml", "count: 1\nname: a\nflag: true\n");
  write("b.yaml", "count: 2\nname: b\n");
  const Sample s = load<Sample>(write("top.yaml", "_base_: [a.yaml, b.yaml]\nname: top\n"));
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.name, "top");
  EXPECT_TRUE(s.flag);
}

TEST_F(Loading, DeepMergeOfMappingsListsReplaced) {
  write("base.yaml", "inner:\n  depth: 4\n  name: kept\n  sizes: [1, 2, 3]\ntags: [x, y]\n");
  const Sample s = load<Sample>(write("top.yaml", "_base_: base.yaml\ninner:\n  sizes: [9]\n"));
  EXPECT_EQ(s.inner, (Inner{4, {9}, "kept"}));  // keys merge; the list is replaced, not appended
  EXPECT_EQ(s.tags, (std::vector<std::string>{"x", "y"}));
}

TEST_F(Loading, NullSectionKeepsBaseAndNullClearsOptional) {
  write("base.yaml", "inner: {depth: 4}\nlimit: 3\nnote: hello\n");
  // `inner:` with every line under it commented out must not wipe what the base set.
  const Sample s =
      load<Sample>(write("top.yaml", "_base_: base.yaml\ninner:\n#  depth: 5\nlimit: ~\n"));
  EXPECT_EQ(s.inner.depth, 4);
  EXPECT_EQ(s.limit, std::nullopt);
  EXPECT_EQ(s.note, "hello");
}

TEST_F(Loading, ValuesAreCheckedAfterMerging) {
  // A bad value that a later file replaces is never seen; one left standing names its file.
  const std::string base = write("base.yaml", "count: many\nlr: fast\n");
  const std::string top = write("top.yaml", "_base_: base.yaml\ncount: 4\n");
  EXPECT_EQ(error_of(top), base + ": key 'lr' expects a number, got 'fast'");
  EXPECT_EQ(load<Sample>(top, {"lr=0.5"}).count, 4);
}

TEST_F(Loading, UnknownKeyNamesTheFileThatHasIt) {
  const std::string base = write("base.yaml", "inner: {dept: 3}\n");
  const std::string top = write("top.yaml", "_base_: base.yaml\ninner: {depth: 2}\n");
  EXPECT_EQ(error_of(top), base + ": unknown key 'inner.dept' (did you mean 'inner.depth'?)");
}

TEST_F(Loading, DottedKeysInFiles) {
  const Sample s = load<Sample>(write("d.yaml", "inner.depth: 7\ninner:\n  name: n\n"));
  EXPECT_EQ(s.inner.depth, 7);
  EXPECT_EQ(s.inner.name, "n");
}

TEST_F(Loading, CyclesAreDetected) {
  const std::string a = write("a.yaml", "_base_: sub/b.yaml\n");
  const std::string b = write("sub/b.yaml", "_base_: ../a.yaml\n");
  EXPECT_EQ(error_of(a), b + ": _base_ cycle: " + a + " -> " + b + " -> " + a);
  const std::string self = write("self.yaml", "_base_: self.yaml\n");
  EXPECT_EQ(error_of(self), self + ": _base_ cycle: " + self + " -> " + self);
}

TEST_F(Loading, DiamondIsNotACycle) {
  write("root.yaml", "count: 1\n");
  write("left.yaml", "_base_: root.yaml\nname: left\n");
  write("right.yaml", "_base_: root.yaml\nflag: true\n");
  const Sample s = load<Sample>(write("top.yaml", "_base_: [left.yaml, right.yaml]\n"));
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.name, "left");
  EXPECT_TRUE(s.flag);
}

// What a hostile config could make the loader do is bounded: anchors referring to anchors (a
// "billion laughs" alias bomb, here 10^9 mappings once expanded), bases naming the same bases
// over and over (2^40 loads) and keys nested thousands deep are refused before they run away.
TEST_F(Loading, ExpansionBombsAndDeepNestingAreRefused) {
  std::string bomb = "a0: &a0 {x: 1, y: 2}\n";
  for (int i = 1; i <= 30; ++i)
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " {l: *a" +
            std::to_string(i - 1) + ", r: *a" + std::to_string(i - 1) + "}\n";
  const std::string aliases = write("bomb.yaml", bomb);
  EXPECT_EQ(error_of(aliases),
            aliases + ": more than 100000 keys once YAML aliases are expanded (an alias bomb?)");

  write("d0.yaml", "count: 1\n");
  for (int i = 1; i <= 40; ++i) {
    const std::string below = "d" + std::to_string(i - 1) + ".yaml";
    write("d" + std::to_string(i) + ".yaml", "_base_: [" + below + ", " + below + "]\n");
  }
  const std::string top = root() + "/d40.yaml";
  EXPECT_EQ(error_of(top), top + ": more than 256 files to load through _base_ (files naming the "
                                 "same bases again and again?)");

  // yaml-cpp itself refuses keys over 1024 characters and nesting over 2000 levels; psam's own
  // bound (32) keeps the recursive merge shallow below those.
  std::string dotted = "a";
  for (int i = 0; i < 40; ++i) dotted += ".a";
  const std::string deep_key = write("deep_key.yaml", dotted + ": 1\n");
  EXPECT_EQ(error_of(deep_key).rfind(deep_key + ": key 'a.a.a", 0), 0u) << error_of(deep_key);
  EXPECT_NE(error_of(deep_key).find("nested deeper than 32 levels"), std::string::npos);
  std::string mappings = "1";
  for (int i = 0; i < 40; ++i) mappings = "{k: " + mappings + "}";
  const std::string nested = write("nested.yaml", "k: " + mappings + "\n");
  EXPECT_NE(error_of(nested).find("nested deeper than 32 levels"), std::string::npos)
      << error_of(nested);
  std::string long_override = "a";
  for (int i = 0; i < 5000; ++i) long_override += ".a";
  EXPECT_NE(error_of(write("ok.yaml", "count: 1\n"), {long_override + "=1"}).find("nested deeper"),
            std::string::npos);
}

TEST_F(Loading, BrokenFilesAreNamed) {
  const std::string missing_base = write("m.yaml", "_base_: [nope.yaml]\n");
  EXPECT_EQ(error_of(missing_base),
            missing_base + ": _base_ 'nope.yaml' not found (looked for " + root() + "/nope.yaml)");
  const std::string bad_base = write("bb.yaml", "_base_: {a: 1}\n");
  EXPECT_EQ(error_of(bad_base),
            bad_base + ": _base_ expects a file name or a list of file names, got a mapping");
  const std::string list = write("list.yaml", "- a\n- b\n");
  EXPECT_EQ(error_of(list), list + ": expected a mapping of keys at the top level, got a list");
  const std::string list_key = write("lk.yaml", "inner:\n  [a, b]: 1\n");
  EXPECT_EQ(error_of(list_key), list_key + ": keys must be names, got a list under 'inner'");
  const std::string duplicate = write("dup.yaml", "inner:\n  depth: 1\n  depth: 2\n");
  EXPECT_EQ(error_of(duplicate), duplicate + ": duplicate key 'inner.depth'");
  const std::string syntax = write("syntax.yaml", "count: 1\nints: [1, 2\n");
  EXPECT_EQ(error_of(syntax).rfind(syntax + ":3:", 0), 0u) << error_of(syntax);
  EXPECT_NE(error_of(syntax).find("invalid YAML"), std::string::npos);
  const std::string absent = root() + "/absent.yaml";
  EXPECT_EQ(error_of(absent).rfind("cannot read " + absent, 0), 0u) << error_of(absent);
}

TEST_F(Loading, OverridesAreYamlValues) {
  const std::string file = write("f.yaml", "count: 4\nnote: x\n");
  const Sample s = load<Sample>(
      file, {"lr=1e-4", "flag=true", "ints=[1,2]", "name=foo", "inner.depth=9", "note=", "count=5",
             "count=6", "tags=[a b, 'c']", "inner={name: deep}", "mode=slow"});
  EXPECT_EQ(s.lr, 1e-4);
  EXPECT_TRUE(s.flag);
  EXPECT_EQ(s.ints, (std::vector<int>{1, 2}));
  EXPECT_EQ(s.name, "foo");
  EXPECT_EQ(s.inner, (Inner{9, {1, 2}, "deep"}));  // a mapping value merges too
  EXPECT_EQ(s.note, std::nullopt);                 // `key=` is null
  EXPECT_EQ(s.count, 6);                           // later overrides win
  EXPECT_EQ(s.tags, (std::vector<std::string>{"a b", "c"}));
  EXPECT_EQ(s.mode, Mode::kSlow);
}

TEST_F(Loading, OverrideErrorsNameTheCommandLine) {
  const std::string file = write("f.yaml", "count: 4\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"inner.dept=3", "command line: unknown key 'inner.dept' (did you mean 'inner.depth'?)"},
      {"count=x", "command line: key 'count' expects a 32-bit integer, got 'x'"},
      {"flag=1", "command line: key 'flag' expects true or false, got '1'"},
      {"count", "command line: override 'count' must look like key.sub=value"},
      {"=3", "command line: override '=3' must look like key.sub=value"},
      {"inner..depth=3", "command line: key 'inner..depth' has an empty part between dots"},
      {"_base_=x.yaml",
       "command line: _base_ cannot be overridden; name the file on the command line instead"},
  };
  for (const auto& [override, expected] : cases) {
    EXPECT_EQ(error_of(file, {override}), expected) << override;
  }
  EXPECT_EQ(error_of(file, {"ints=[1,"})
                .rfind("command line: override 'ints=[1,': invalid YAML value: ", 0),
            0u)
      << error_of(file, {"ints=[1,"});
}

// The same values reached through bases and overrides or written out flat hash the same.
TEST_F(Loading, HashDependsOnValuesNotOnFiles) {
  write("base.yaml", "count: 7\ninner: {depth: 3}\n");
  const Sample inherited = load<Sample>(write("top.yaml", "_base_: base.yaml\nlr: 0.5\n"));
  const Sample flat = load<Sample>(write("flat.yaml", "lr: 0.5\ninner.depth: 3\ncount: 7\n"));
  const Sample overridden = load<Sample>("", {"count=7", "lr=0.5", "inner.depth=3"});
  EXPECT_EQ(hash(inherited), hash(flat));
  EXPECT_EQ(hash(inherited), hash(overridden));
  EXPECT_NE(hash(inherited), hash(Sample{}));
}

}  // namespace
}  // namespace psam::config::test
