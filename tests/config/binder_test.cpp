// Binding structs to YAML: every field type, the error messages, required keys, binding
// mistakes, and writing a config back (round trip, PyYAML's reading, hash).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "config/binder.h"
#include "config/sample_config.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::config::test {
namespace {

struct Required {
  std::string root;
  int n = 1;
};
void bind(Binder& b, Required& c) {
  b.field("root", c.root, "dataset directory").required();
  b.field("n", c.n);
}

struct BoundTwice {
  int a = 0;
};
void bind(Binder& b, BoundTwice& c) {
  b.field("a", c.a);
  b.field("a", c.a);
}

struct DottedKey {
  int a = 0;
};
void bind(Binder& b, DottedKey& c) { b.field("a.b", c.a); }

struct DefaultNotAChoice {
  std::string kernel = "flash";
};
void bind(Binder& b, DefaultNotAChoice& c) { b.choice("kernel", c.kernel, {"math", "sdpa"}); }

template <class T>
std::string error_of(const std::function<T()>& load) {
  try {
    load();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

class Binding : public ::testing::Test {
 protected:
  // Loads `yaml` as file x.yaml; returns the error text without the "path: " prefix.
  std::string load_error(const std::string& yaml) {
    const std::string path = dir_.write("x.yaml", yaml);
    const std::string error = error_of<Sample>([&] { return load<Sample>(path); });
    if (error.rfind(path + ": ", 0) != 0) return "unexpected: " + error;
    return error.substr(path.size() + 2);
  }
  support::TempDir dir_;
};

// Every field set to a value that is easy to get wrong when written and read back.
Sample tricky() {
  Sample s;
  s.flag = true;
  s.count = std::numeric_limits<int>::min();
  s.big = std::numeric_limits<int64_t>::max();
  s.ratio = 0.1f;
  s.lr = 5e-324;  // the smallest denormal
  s.name = "true";
  s.ints = {std::numeric_limits<int>::max(), -1, 0};
  s.ids = {};
  s.weights = {3.4028235e38f, 1e-45f, -0.0f, 1.0f / 3};
  s.scales = {0.1, 1e16, 123456789.123, -2.5e-8, 1.0 / 3};
  s.tags = {"",       "yes", "123",  "a: b",  "# c",  "null",  "multi\nline",
            "café",   "-",   "[x]",  " lead", "0x1F", "1_000", "'q'",
            "\"dq\"", "on",  "1e-4", ".5",    "=",    "<<",    "2024-01-01"};
  s.limit = 0;
  s.budget = std::nullopt;
  s.gamma = 1.5f;
  s.momentum = -0.0;
  s.note = "~";
  s.attention = "sdpa";
  s.mode = Mode::kSlow;
  s.inner = Inner{0, {3}, "x y"};
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(Binding, AbsentKeysKeepDefaults) {
  EXPECT_EQ(load<Sample>(dir_.write("empty.yaml", "")), Sample{});
  EXPECT_EQ(load<Sample>(dir_.write("comments.yaml", "# nothing here\n")), Sample{});
  EXPECT_EQ(load<Sample>(""), Sample{});
}

TEST_F(Binding, ReadsEveryType) {
  const Sample s = load<Sample>(dir_.write("all.yaml", R"(
flag: true
count: 0x10
big: 9000000000
ratio: 0.25
lr: 1e-4
name: 2024
ints: [1, -2, +3]
ids: []
weights: [0.5, 2]
scales: [.inf, -1.5e3]
tags: [x, 'y z', "true"]
limit: 0o17
budget: ~
gamma: 1
momentum: .9
note: hello
attention: sdpa
mode: slow
inner:
  depth: 5
  sizes: []
)"));
  EXPECT_TRUE(s.flag);
  EXPECT_EQ(s.count, 16);
  EXPECT_EQ(s.big, 9000000000);
  EXPECT_EQ(s.ratio, 0.25f);
  EXPECT_EQ(s.lr, 1e-4);
  EXPECT_EQ(s.name, "2024");  // a string field takes any scalar's text
  EXPECT_EQ(s.ints, (std::vector<int>{1, -2, 3}));
  EXPECT_TRUE(s.ids.empty());
  EXPECT_EQ(s.weights, (std::vector<float>{0.5f, 2.0f}));
  EXPECT_EQ(s.scales, (std::vector<double>{std::numeric_limits<double>::infinity(), -1500.0}));
  EXPECT_EQ(s.tags, (std::vector<std::string>{"x", "y z", "true"}));
  EXPECT_EQ(s.limit, 15);
  EXPECT_EQ(s.budget, std::nullopt);  // null clears an optional that had a default
  EXPECT_EQ(s.gamma, 1.0f);           // an integer is a fine number
  EXPECT_EQ(s.momentum, 0.9);
  EXPECT_EQ(s.note, "hello");
  EXPECT_EQ(s.attention, "sdpa");
  EXPECT_EQ(s.mode, Mode::kSlow);
  EXPECT_EQ(s.inner, (Inner{5, {}, "inner"}));  // name kept from the default
}

TEST_F(Binding, TypeErrorsNameKeyExpectationAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"count: 1.5", "key 'count' expects a 32-bit integer, got '1.5'"},
      {"count: 3000000000", "key 'count' expects a 32-bit integer, got '3000000000'"},
      {"count: {a: 1}", "key 'count' expects a 32-bit integer, got a mapping"},
      {"big: 1.0", "key 'big' expects an integer, got '1.0'"},
      {"lr: fast", "key 'lr' expects a number, got 'fast'"},
      {"lr: '1e-4'", "key 'lr' expects a number, got '1e-4' (quoted, so a string)"},
      {"lr: ~", "key 'lr' expects a number, got null"},
      {"flag: yes", "key 'flag' expects true or false, got 'yes'"},
      {"flag: 1", "key 'flag' expects true or false, got '1'"},
      {"name: [a]", "key 'name' expects a string, got a list"},
      {"name: ~", "key 'name' expects a string, got null"},
      {"ints: 5", "key 'ints' expects a list of int values, got '5'"},
      {"ints: [1, x, 3]", "key 'ints[1]' expects a 32-bit integer, got 'x'"},
      {"tags: [a, [b]]", "key 'tags[1]' expects a string, got a list"},
      {"limit: x", "key 'limit' expects a 32-bit integer or null, got 'x'"},
      {"attention: flash", "key 'attention' expects one of math, sdpa, got 'flash'"},
      {"mode: FAST", "key 'mode' expects one of fast, slow, got 'FAST'"},
      {"inner: 3", "key 'inner' expects a mapping, got '3'"},
      {"inner: {sizes: [1, 2.5]}", "key 'inner.sizes[1]' expects a 32-bit integer, got '2.5'"},
  };
  for (const auto& [yaml, expected] : cases) EXPECT_EQ(load_error(yaml), expected) << yaml;
}

TEST_F(Binding, UnknownKeysSuggestTheClosestValidKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nmae: x", "unknown key 'nmae' (did you mean 'name'?)"},
      {"inner: {dept: 3}", "unknown key 'inner.dept' (did you mean 'inner.depth'?)"},
      {"depth: 3", "unknown key 'depth' (did you mean 'inner.depth'?)"},  // at the wrong level
      {"inner: {lr: 1}", "unknown key 'inner.lr' (did you mean 'lr'?)"},
      {"innr.depth: 3", "unknown key 'innr' (did you mean 'inner'?)"},
      {"momentum: 0.9\nmomentun: 0.8", "unknown key 'momentun' (did you mean 'momentum'?)"},
  };
  for (const auto& [yaml, expected] : cases) EXPECT_EQ(load_error(yaml), expected) << yaml;
}

TEST_F(Binding, RequiredKeysMustBeGiven) {
  const std::string file = dir_.write("r.yaml", "n: 2\n");
  EXPECT_EQ(error_of<Required>([&] { return load<Required>(file); }),
            file + ": missing required key 'root'");
  EXPECT_EQ(error_of<Required>([&] { return load<Required>(""); }),
            "command line: missing required key 'root'");
  EXPECT_EQ(load<Required>(file, {"root=/data"}).root, "/data");
  EXPECT_EQ(to_yaml(Required{"/data", 2}, /*with_help=*/true),
            "root: /data  # dataset directory [string, required]\nn: 2  # [int]\n");
}

TEST_F(Binding, BindingMistakesAreReported) {
  EXPECT_EQ(error_of<BoundTwice>([] { return load<BoundTwice>(""); }),
            "config binding: key 'a' bound twice");
  EXPECT_EQ(error_of<DottedKey>([] { return load<DottedKey>(""); }),
            "config binding: invalid key 'a.b' (a name without dots)");
  EXPECT_EQ(error_of<DefaultNotAChoice>([] { return load<DefaultNotAChoice>(""); }),
            "config binding: the default of 'kernel' is not one of math, sdpa");
}

TEST_F(Binding, WrittenYamlReadsBackIdentical) {
  const Sample s = tricky();
  const std::string plain = dir_.write("plain.yaml", to_yaml(s));
  EXPECT_EQ(load<Sample>(plain), s) << to_yaml(s);
  const std::string commented = dir_.write("help.yaml", to_yaml(s, /*with_help=*/true));
  EXPECT_EQ(load<Sample>(commented), s) << to_yaml(s, true);
  const std::string written = dir_.path() + "/written.yaml";
  write(s, written);
  EXPECT_EQ(load<Sample>(written), s);
  EXPECT_EQ(read_file(written), to_yaml(s));
}

TEST_F(Binding, KeyValueLinesAreOverrides) {
  const Sample s = tricky();
  EXPECT_EQ(load<Sample>("", lines_of(to_key_values(s))), s) << to_key_values(s);
  EXPECT_EQ(to_key_values(Sample{}),
            "flag=false\ncount=3\nbig=1\nratio=0.5\nlr=0.001\nname=base\nints=[]\nids=[7]\n"
            "weights=[1.0]\nscales=[]\ntags=[a]\nlimit=~\nbudget=5\ngamma=~\nmomentum=~\nnote=~\n"
            "attention=math\nmode=fast\ninner.depth=2\ninner.sizes=[1, 2]\ninner.name=inner\n");
}

TEST_F(Binding, NanAndInfinityRoundTrip) {
  Sample s;
  s.gamma = std::numeric_limits<float>::quiet_NaN();
  s.scales = {-std::numeric_limits<double>::infinity()};
  const std::string text = to_yaml(s);
  EXPECT_NE(text.find("gamma: .nan"), std::string::npos) << text;
  EXPECT_NE(text.find("scales: [-.inf]"), std::string::npos) << text;
  const Sample back = load<Sample>(dir_.write("nan.yaml", text));
  EXPECT_TRUE(back.gamma && std::isnan(*back.gamma));
  EXPECT_EQ(back.scales, s.scales);
}

// PyYAML (a YAML 1.1 reader, what Python tools use) sees the same values with the same types as
// the struct holds, checked against a JSON rendering of the struct made independently of YAML.
TEST_F(Binding, PyYamlReadsTheSameValues) {
  if (!support::python_has("yaml") || !support::python_has("numpy")) {
    GTEST_SKIP() << PSAM_PYTHON " lacks yaml or numpy";
  }
  const Sample s = tricky();
  nlohmann::json expected = {
      {"flag", s.flag},
      {"count", s.count},
      {"big", s.big},
      {"ratio", s.ratio},
      {"lr", s.lr},
      {"name", s.name},
      {"ints", s.ints},
      {"ids", s.ids},
      {"weights", s.weights},
      {"scales", s.scales},
      {"tags", s.tags},
      {"limit", *s.limit},
      {"budget", nullptr},
      {"gamma", *s.gamma},
      {"momentum", *s.momentum},
      {"note", *s.note},
      {"attention", s.attention},
      {"mode", "slow"},
      {"inner", {{"depth", s.inner.depth}, {"sizes", s.inner.sizes}, {"name", s.inner.name}}}};
  const std::string yaml_path = dir_.write("config.yaml", to_yaml(s));
  const std::string json_path = dir_.write("expected.json", expected.dump());
  const std::string script = dir_.write("check.py", R"(
import json, sys, yaml, numpy as np
got = yaml.safe_load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
float32 = {"ratio", "weights", "gamma"}  # C++ floats: compare at float precision
def same(a, b, f32):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], k in float32) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y, f32) for x, y in zip(a, b))
    if isinstance(a, float) and f32:
        return np.float32(a) == np.float32(b) and np.signbit(a) == np.signbit(b)
    if isinstance(a, float):
        return a == b and np.signbit(a) == np.signbit(b)
    return a == b
for key in want:
    if not same(got.get(key), want[key], key in float32):
        print("mismatch", key, repr(got.get(key)), repr(want[key]))
print("checked", len(want))
)");
  EXPECT_EQ(support::run_python(script + " " + yaml_path + " " + json_path), "checked 19\n");
}

TEST_F(Binding, HashIsTheSha256OfTheWrittenFile) {
  const Sample s = tricky();
  Sample other = s;
  other.inner.depth = 1;
  EXPECT_EQ(hash(s), hash(tricky()));
  EXPECT_NE(hash(s), hash(other));
  EXPECT_EQ(hash(s).size(), 64u);
  if (!support::python_has("hashlib")) GTEST_SKIP() << PSAM_PYTHON " not available";
  const std::string path = dir_.path() + "/config.yaml";
  write(s, path);
  const std::string digest = support::run_python(
      "-c 'import hashlib,sys; "
      "print(hashlib.sha256(open(sys.argv[1],\"rb\").read()).hexdigest())' " +
      path);
  EXPECT_EQ(digest, hash(s) + "\n");
}

TEST_F(Binding, SchemaListsKeysAndWritesHelp) {
  Sample s;
  const std::vector<std::string> keys = Schema(s).keys();
  ASSERT_EQ(keys.size(), 21u);
  EXPECT_EQ(keys.front(), "flag");
  EXPECT_EQ(keys.back(), "inner.name");
  const std::string help = to_yaml(Sample{}, /*with_help=*/true);
  EXPECT_NE(help.find("flag: false  # a switch [bool]\n"), std::string::npos) << help;
  EXPECT_NE(help.find("lr: 0.001  # learning rate [float]\n"), std::string::npos) << help;
  EXPECT_NE(help.find("limit: ~  # [int or null]\n"), std::string::npos) << help;
  EXPECT_NE(help.find("attention: math  # attention kernel [math|sdpa]\n"), std::string::npos);
  EXPECT_NE(help.find("inner:  # a nested section\n  depth: 2  # how deep [int]\n"),
            std::string::npos)
      << help;
}

}  // namespace
}  // namespace psam::config::test
