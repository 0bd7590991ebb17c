// Benchmark files of psam compare: defaults, paths relative to the file, the prompt-only
// baseline added, and one-line errors naming the file and key.
#include "config/bench.h"

#include <gtest/gtest.h>

#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::config {
namespace {

std::string bench_error(const support::TempDir& dir, const std::string& text) {
  const std::string path = dir.write("b.yaml", text);
  try {
    load_benchmark(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Benchmark, ReadsMethodsAndAddsThePromptOnlyBaseline) {
  support::TempDir dir;
  dir.write("configs/m.yaml", "model: {kind: prob_unet}\n");
  const std::string path = dir.write("bench/b.yaml", R"(
data: {store: ../data/s}
seeds: [3, 4]
overrides: [run.threads=1]
eval: {samples: [16, 32], prompt: union}
methods:
  - {name: unet, config: ../configs/m.yaml, overrides: [train.epochs=2]}
)");
  const Benchmark b = load_benchmark(path);
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.store, dir.file("data/s"));
  EXPECT_EQ(b.seeds, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(b.eval, (std::vector<std::string>{"eval.samples=[16, 32]", "eval.prompt=union"}));
  ASSERT_EQ(b.methods.size(), 2u);
  EXPECT_EQ(b.methods[0].name, "box_ellipse");
  EXPECT_EQ(b.methods[0].kind, "box_ellipse");
  EXPECT_EQ(b.methods[1].config, dir.file("configs/m.yaml"));
  EXPECT_EQ(b.methods[1].overrides, (std::vector<std::string>{"run.threads=1", "train.epochs=2"}));
  EXPECT_EQ(b.baseline, "box_ellipse");
  EXPECT_EQ(b.report_dir(), "runs/compare/b");
}

TEST(Benchmark, BadFilesAreOneLineErrors) {
  support::TempDir dir;
  const std::string f = dir.file("b.yaml");
  const std::string m = "methods: [{name: b, kind: box_ellipse}]\n";
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nmethod: []\n"),
            f + ": unknown key 'method' (known: baseline, data, eval, methods, name, out_dir, "
                "overrides, prompt_only_baseline, seeds, splits)");
  EXPECT_EQ(bench_error(dir, m),
            f + ": key 'data.store' is required (the dataset store every method uses)");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nseeds: [1, x]\n" + m),
            f + ": key 'seeds[1]' expects an integer, got 'x'");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\neval: {sample: 3}\n" + m),
            f + ": command line: unknown key 'eval.sample' (did you mean 'eval.samples'?)");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nbaseline: nope\n" + m),
            f + ": key 'baseline': no method named 'nope'");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nmethods: [{name: a, kind: prob_sam}]\n"),
            f + ": key 'methods[0].kind': kind prob_sam learns from data: give its config "
                "instead");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nmethods: [{name: a, config: none.yaml}]\n"),
            f + ": key 'methods[0].config': no such file " + dir.file("none.yaml") +
                " (a relative path is taken from the benchmark file's folder, then from the "
                "working directory; write it relative to either, or absolute)");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nmethods: [{name: a}]\n"),
            f + ": methods[0] (a) needs a config (a method that trains) or a kind (one that "
                "learns nothing)");
  EXPECT_EQ(bench_error(dir, "data: {store: s}\nmethods: [{name: b, kind: box_ellipse}, {name: b, "
                          "kind: box_ellipse}]\n"),
            f + ": method name 'b' appears twice");
}

}  // namespace
}  // namespace psam::config
