// psam compare BENCH.yaml: every method of a benchmark trained (finished runs skipped,
// interrupted ones resumed), evaluated with the same store, splits, prompts and seeds, and one
// report folder with the table, paired comparisons against the baseline and pictures.
// Each stage is an in-process psam command (data synth, train --resume auto, eval), so compare
// does exactly what a user typing them would, and a run stopped by a signal resumes on rerun.
#include "compare.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "cli.h"
#include "config/bench.h"
#include "config/config.h"
#include "psam/models/registry.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Exit status of a stage stopped by a signal with its progress saved (as psam train's).
constexpr int kResumable = 75;
constexpr const char* kTrainedMark = "compare_trained.txt";

struct CompareArgs {
  std::string bench;
  std::vector<std::string> overrides;  // key=value on the benchmark file
  bool dry_run = false;
};

// A stage: one psam command. `done` stages are listed and skipped.
struct Stage {
  Stage(std::string w, std::vector<std::string> a) : what(std::move(w)), args(std::move(a)) {}
  std::string what;
  std::vector<std::string> args;
  bool done = false;
  std::string mark;       // a file written with `mark_text` once the command succeeded
  std::string mark_text;
};

bool learns(const config::BenchMethod& m, const config::Config& c) {
  return m.kind.empty() && models::registry_entry(c.model.kind).learns;
}

config::Config method_config(const config::BenchMethod& m, const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = m.overrides;
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return config::load<config::Config>(m.config, overrides);
}

std::string summary_hash(const std::string& eval_dir) {
  const std::string path = eval_dir + "/summary.json";
  if (!fs::exists(path)) return {};
  try {
    const auto j = nlohmann::json::parse(read_file(path));
    return j.at("model").value("config_hash", "");
  } catch (const std::exception&) {
    return {};  // unreadable: evaluated again
  }
}

// "key=value" (value in YAML flow style) for every leaf of a config's YAML.
void flatten_yaml(const YAML::Node& node, const std::string& prefix,
                  std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node)
      flatten_yaml(kv.second, prefix.empty() ? kv.first.as<std::string>()
                                             : prefix + "." + kv.first.as<std::string>(),
                   out);
    return;
  }
  YAML::Emitter e;
  e << YAML::Flow << node;
  out[prefix] = e.c_str();
}

// The overrides that turn the config a run was trained with into `now`, so that a resumed run
// follows an edited method config (psam train --resume reads the run's own config.yaml plus
// overrides; a model change is refused there, naming the keys). The run stores its paths
// absolute; `now`'s are compared the same way.
std::vector<std::string> config_changes(const std::string& run_config, config::Config now) {
  config::make_paths_absolute(now);
  std::map<std::string, std::string> was, is;
  flatten_yaml(YAML::Load(config::to_yaml(config::load<config::Config>(run_config, {}))), "", was);
  flatten_yaml(YAML::Load(config::to_yaml(now)), "", is);
  std::vector<std::string> out;
  for (const auto& [key, value] : is) {
    const auto it = was.find(key);
    if (it == was.end() || it->second != value) out.push_back(key + "=" + value);
  }
  return out;
}

std::string read_mark(const std::string& path) {
  if (!fs::exists(path)) return {};
  return read_file(path);
}

struct Plan {
  std::vector<Stage> stages;
  std::vector<ComparedRun> runs;
};

Plan plan(const config::Benchmark& b) {
  Plan p;
  const std::string runs_dir = b.report_dir() + "/runs";
  if (!fs::exists(b.store)) {
    PSAM_CHECK(!b.synth.empty(),
               fmt::format("{}: data.store {} does not exist (import it, or give data.synth to "
                           "generate a synthetic one)",
                           b.file, b.store));
    // psam data synth writes into an existing parent folder only.
    const fs::path parent = fs::path(b.store).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    Stage s{"generate the store " + b.store, {"data", "synth", b.store}};
    s.args.insert(s.args.end(), b.synth.begin(), b.synth.end());
    p.stages.push_back(s);
  }
  const std::string store_override = "data.store=" + b.store;
  for (const auto& m : b.methods) {
    const std::string method_dir = runs_dir + "/" + m.name;
    const config::Config base = method_config(m, {store_override});
    if (!learns(m, base)) {
      // One evaluation serves every seed: nothing is trained.
      const std::string kind = m.kind.empty() ? base.model.kind : m.kind;
      for (const auto& split : b.splits) {
        std::vector<std::string> eval_over = {store_override};
        eval_over.insert(eval_over.end(), b.eval.begin(), b.eval.end());
        eval_over.push_back("eval.split=" + split);
        const std::string out = method_dir + "/eval/" + split;
        Stage s{fmt::format("evaluate {} on {}", m.name, split), {"eval", "--kind", kind}};
        if (!m.config.empty()) s.args.insert(s.args.end(), {"--config", m.config});
        s.args.insert(s.args.end(), {"--store", b.store, "--out", out});
        std::vector<std::string> all = m.overrides;
        all.insert(all.end(), eval_over.begin(), eval_over.end());
        s.args.insert(s.args.end(), all.begin(), all.end());
        s.done = summary_hash(out) == config::hash(method_config(m, eval_over));
        p.stages.push_back(s);
        for (int64_t seed : b.seeds) p.runs.push_back({m.name, seed, split, out, {}});
      }
      continue;
    }
    for (int64_t seed : b.seeds) {
      const std::string name = fmt::format("seed{}", seed);
      const std::vector<std::string> train_over = {store_override, "run.out_dir=" + method_dir,
                                                   "run.name=" + name,
                                                   fmt::format("run.seed={}", seed)};
      const std::string run = method_dir + "/" + name;
      const std::string hash = config::hash(method_config(m, train_over));
      Stage t{fmt::format("train {} seed {}", m.name, seed), {"train", m.config}};
      t.args.insert(t.args.end(), m.overrides.begin(), m.overrides.end());
      t.args.insert(t.args.end(), train_over.begin(), train_over.end());
      t.args.insert(t.args.end(), {"--resume", "auto"});
      t.mark = run + "/" + kTrainedMark;
      t.mark_text = hash;
      t.done = read_mark(t.mark) == hash;
      // A run of an earlier version of the method's config resumes with what changed.
      if (!t.done && fs::exists(run + "/config.yaml")) {
        const auto changes = config_changes(run + "/config.yaml", method_config(m, train_over));
        t.args.insert(t.args.end() - 2, changes.begin(), changes.end());
      }
      p.stages.push_back(t);
      for (const auto& split : b.splits) {
        std::vector<std::string> eval_over = b.eval;
        eval_over.push_back("eval.split=" + split);
        const std::string out = run + "/eval/" + split;
        Stage e{fmt::format("evaluate {} seed {} on {}", m.name, seed, split),
                {"eval", "--run", run, "--out", out}};
        e.args.insert(e.args.end(), eval_over.begin(), eval_over.end());
        // Evaluated with the run's own config and the protocol's keys: the hash eval records.
        const std::string want =
            t.done ? config::hash(config::load<config::Config>(run + "/config.yaml", eval_over))
                   : std::string("-");
        e.done = t.done && summary_hash(out) == want;
        p.stages.push_back(e);
        p.runs.push_back({m.name, seed, split, out, {}});
      }
    }
  }
  return p;
}

int run_compare(const CompareArgs& a, Io io) {
  const auto start = Clock::now();
  const config::Benchmark b = config::load_benchmark(a.bench, a.overrides);
  Plan p = plan(b);
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const size_t total = p.stages.size();
  size_t to_run = 0;
  for (const auto& s : p.stages) to_run += !s.done;
  io.out << fmt::format("psam compare {}: {} method(s) x {} seed(s), {} stage(s), {} to run\n",
                        b.name, b.methods.size(), b.seeds.size(), total, to_run);
  io.out << fmt::format("store: {}{}\nreport: {}\n", b.store,
                        fs::is_directory(b.store) ? "" : " (made first by psam data synth)",
                        b.report_dir());
  for (size_t i = 0; i < total; ++i) {
    Stage& s = p.stages[i];
    if (s.done || a.dry_run) {
      io.out << fmt::format("[{}/{}] {}: {} ({:.0f} s)\n", i + 1, total, s.what,
                            s.done ? "done, skipped" : "to run", elapsed());
      continue;
    }
    io.out << fmt::format("[{}/{}] {} ...\n", i + 1, total, s.what) << std::flush;
    std::ostringstream out, err;
    const int rc = run(s.args, {out, err});
    if (rc == kResumable) {
      io.err << fmt::format("psam compare: {} was stopped with its progress saved; run psam "
                            "compare {} again to finish\n",
                            s.what, a.bench);
      return kResumable;
    }
    if (rc != 0) {
      io.err << err.str();
      fail(fmt::format("psam compare: {} failed (psam {})", s.what, fmt::join(s.args, " ")));
    }
    if (!s.mark.empty())
      write_file_atomic(s.mark, [&](std::ostream& o) { o << s.mark_text; });
    io.out << fmt::format("[{}/{}] {}: done ({:.0f} s)\n", i + 1, total, s.what, elapsed());
  }
  if (a.dry_run) return 0;

  for (auto& r : p.runs) {
    const std::string path = r.eval_dir + "/summary.json";
    r.summary = nlohmann::json::parse(read_file(path));
  }
  std::vector<std::string> names;
  for (const auto& m : b.methods) names.push_back(m.name);
  const std::string table =
      write_compare_report(b.report_dir(), b.name, names, b.baseline, p.runs);
  io.out << table;
  io.out << fmt::format("wrote {} ({:.0f} s in all)\n", b.report_dir(), elapsed());
  return 0;
}

}  // namespace

void add_compare_command(CLI::App& app, Io io, int& rc) {
  auto a = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand(
      "compare",
      "Train (what is not yet trained) and evaluate every method of a benchmark file with one "
      "protocol; writes OUT_DIR/NAME/{results.md, results.csv, results.json, *.svg, samples.png}");
  sub->add_option("BENCH", a->bench, "benchmark file (configs/bench/*.yaml; docs/compare.md)")
      ->required();
  sub->add_option("overrides", a->overrides,
                  "key=value changes to the benchmark file: data.store=DIR, out_dir=DIR, "
                  "seeds=[0], eval.samples=[16], ...");
  sub->add_flag("--dry-run", a->dry_run, "list the stages, done or to run, and exit");
  sub->callback([a, io, &rc] { rc = run_compare(*a, io); });
}

}  // namespace psam::cli
