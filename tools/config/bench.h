// A benchmark file for psam compare: one store, the methods (a config and overrides each, or a
// kind that learns nothing), the training seeds and the evaluation protocol every method gets.
//
//   name: synthetic_all
//   out_dir: runs/compare            # the report goes to out_dir/name
//   data:
//     store: ../../data/bench_synth  # relative paths are relative to this file
//     synth: [--n, "240", --size, "64"]  # psam data synth options, when the store is missing
//   seeds: [0, 1]                    # run.seed of each training run
//   splits: [test]
//   baseline: box_ellipse            # the method every other one is compared with, case by case
//   prompt_only_baseline: true       # add box_ellipse when no method names it
//   overrides: [run.threads=0]       # for every method
//   eval: {samples: [4, 8, 16], prompt: union, seed: 0}  # the `eval:` keys of a config
//   methods:
//     - {name: prob_sam, config: ../probsam_synthetic_tiny.yaml, overrides: [train.epochs=4]}
//     - {name: box_ellipse, kind: box_ellipse}
//
// Any registry kind takes part by being named in `methods` (its config's model.kind).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace psam::config {

struct BenchMethod {
  std::string name;    // the report's label and the folder of its runs
  std::string config;  // a psam config (resolved path); empty: defaults plus overrides
  std::string kind;    // a method that learns nothing (model.kind), run without training
  std::vector<std::string> overrides;  // the benchmark's, then the method's own
};

struct Benchmark {
  std::string file;  // the benchmark file as given
  std::string name;
  std::string out_dir;
  std::string store;               // resolved path
  std::vector<std::string> synth;  // psam data synth options; empty: the store must exist
  std::vector<int64_t> seeds = {0};
  std::vector<std::string> splits = {"test"};
  std::string baseline = "box_ellipse";
  std::vector<std::string> eval;  // eval.key=value overrides, from the `eval:` mapping
  std::vector<BenchMethod> methods;

  std::string report_dir() const { return out_dir + "/" + name; }
};

// Reads and checks a benchmark file: unknown keys, wrong types, duplicate or missing method
// names, an unknown baseline and bad eval keys fail with one line naming the file and key.
// `overrides` (key=value, the value YAML: data.store=DIR, out_dir=DIR, seeds=[0],
// eval.samples=[16]) change the file's keys; a data.store given there is relative to the working
// directory. A method config that is not where the file says (a copied benchmark file) is also
// looked for relative to the working directory.
Benchmark load_benchmark(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace psam::config
