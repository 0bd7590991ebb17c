// psam eval: a trained (Probabilistic) SAM on a store split -> summary.json, per_case.csv,
// samples.png and a printed table; optionally the store's oracle draws scored the same way.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "cli.h"
#include "config/config.h"
#include "psam/data/store.h"
#include "psam/eval/evaluator.h"
#include "psam/eval/report.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/train/model_config.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string run;
  std::string checkpoint;
  std::string config;
  std::string split;
  std::optional<int64_t> samples;
  std::optional<int64_t> max_cases;
  bool oracle = false;
  std::string out;
  std::string device;  // empty: the config's run.device
  std::vector<std::string> compare;
  std::vector<std::string> overrides;
};

// What to evaluate, resolved from the arguments and checked before anything is written.
struct EvalPlan {
  config::Config config;
  std::string config_path;
  std::string checkpoint;
  std::string out;
};

std::string default_checkpoint(const std::string& run) {
  for (const char* name : {"best.pt", "last.pt"}) {
    const fs::path p = fs::path(run) / "checkpoints" / name;
    if (fs::exists(p)) return p.string();
  }
  fail(fmt::format("--run {}: no checkpoints/best.pt or checkpoints/last.pt", run));
}

EvalPlan plan(const EvalArgs& a) {
  PSAM_CHECK(a.run.empty() != a.checkpoint.empty(),
             "psam eval: give either --run RUN_DIR or --checkpoint C with --config Y");
  PSAM_CHECK(a.checkpoint.empty() == a.config.empty(),
             "psam eval: --checkpoint and --config go together");
  EvalPlan p;
  if (!a.run.empty()) {
    PSAM_CHECK(fs::is_directory(a.run), fmt::format("--run {}: not a directory", a.run));
    p.config_path = (fs::path(a.run) / "config.yaml").string();
    PSAM_CHECK(fs::exists(p.config_path),
               fmt::format("--run {}: no config.yaml (not a psam run directory)", a.run));
    p.checkpoint = default_checkpoint(a.run);
  } else {
    PSAM_CHECK(fs::is_regular_file(a.checkpoint),
               fmt::format("--checkpoint {}: no such file", a.checkpoint));
    p.config_path = a.config;
    p.checkpoint = a.checkpoint;
  }
  p.config = config::load<config::Config>(p.config_path, a.overrides);
  auto& e = p.config.eval;
  if (!a.split.empty()) e.split = a.split;
  if (a.samples) e.samples = *a.samples;
  if (a.max_cases) e.max_cases = *a.max_cases;
  e.preprocessing = p.config.data.loader;
  e.preprocessing.input_size = p.config.model.prob.sam.img_size;
  e.validate();
  p.config.model.prob.validate();
  if (!a.device.empty()) {
    p.config.run.device = a.device == "cpu"    ? RunOptions::Device::kCpu
                          : a.device == "cuda" ? RunOptions::Device::kCuda
                                               : RunOptions::Device::kAuto;
  }

  if (!a.out.empty()) {
    p.out = a.out;
  } else {
    // A run's reports go under the run; a loose checkpoint's beside it (or beside its
    // checkpoints/ folder).
    fs::path base = !a.run.empty() ? fs::path(a.run) : fs::path(a.checkpoint).parent_path();
    if (a.run.empty() && base.filename() == "checkpoints") base = base.parent_path();
    p.out = (base / "eval" / e.split).string();
  }
  return p;
}

// Weights from a training checkpoint ({"model": state dict, ...}) or a flat ProbSam state dict.
void load_weights(prob::ProbSam& model, const std::string& path) {
  const io::TensorDict tensors = io::read_tensors(path);
  bool nested = false;
  for (const auto& name : tensors.keys()) nested = nested || name.rfind("model.", 0) == 0;
  io::load_state_dict(*model, tensors, nested ? "model." : "", path);
}

void print_compare(const std::vector<std::string>& items, Io io) {
  std::vector<std::pair<std::string, nlohmann::json>> rows;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    PSAM_CHECK(eq != std::string::npos && eq > 0,
               fmt::format("--compare {}: expected LABEL=SUMMARY.json", item));
    const std::string path = item.substr(eq + 1);
    nlohmann::json summary;
    try {
      summary = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail(fmt::format("{}: not JSON: {}", path, e.what()));
    }
    PSAM_CHECK(summary.is_object() && summary.contains("metrics"),
               fmt::format("{}: not a psam eval summary.json (no \"metrics\")", path));
    rows.emplace_back(item.substr(0, eq), std::move(summary));
  }
  io.out << eval::comparison_table(rows);
}

void run_eval(const EvalArgs& a, Io io) {
  if (!a.compare.empty()) {
    PSAM_CHECK(a.run.empty() && a.checkpoint.empty(),
               "psam eval: --compare prints saved summaries; it takes no --run/--checkpoint");
    print_compare(a.compare, io);
    return;
  }
  const EvalPlan p = plan(a);
  const auto& e = p.config.eval;
  const auto store = data::DatasetStore::open(p.config.data.store);
  const std::vector<int64_t> indices = store.split_indices(e.split);
  PSAM_CHECK(!a.oracle || store.has_oracle(),
             fmt::format("--oracle: {} has no oracle_masks.npy (only synthetic stores have oracle "
                         "draws)",
                         store.dir()));
  train::ModelConfig model_config = p.config.model;
  model_config.init_from.clear();  // the checkpoint has every weight
  prob::ProbSam model = train::build_model(model_config, resolve_device(p.config.run.device));
  load_weights(model, p.checkpoint);

  const nlohmann::json identity = {
      {"checkpoint", p.checkpoint},
      {"config", p.config_path},
      {"config_hash", config::hash(p.config)},
      {"latent_net", p.config.model.prob.latent_net},
      {"store", store.dir()},
      {"store_fingerprint", store.fingerprint()},
  };
  const eval::EvalResult result = eval::evaluate(model, store, indices, e);
  std::vector<std::pair<std::string, nlohmann::json>> rows = {
      {p.config.model.prob.deterministic() ? "deterministic" : "probabilistic",
       eval::eval_summary_json(result, identity)}};
  std::optional<eval::EvalResult> oracle;
  if (a.oracle) {
    oracle = eval::evaluate_oracle(store, indices, e);
    rows.emplace_back("oracle", eval::eval_summary_json(*oracle, identity));
  }
  eval::write_eval_report(result, p.out, identity);
  if (oracle) eval::write_eval_report(*oracle, p.out + "/oracle", identity);

  io.out << eval::comparison_table(rows);
  io.out << fmt::format(
      "{} case(s) of split '{}', N={} samples, K={} annotators, prompt {}; mean [95% bootstrap "
      "interval]; GED {}, HM-IoU {}; {:.1f} s\nwrote {}\n",
      result.cases.size(), e.split, result.samples, result.annotators,
      data::to_string(result.prompt), eval::to_string(e.metrics.ged_convention),
      eval::to_string(e.metrics.hm_iou_convention), result.seconds, p.out);
}

}  // namespace

void add_eval_command(CLI::App& app, Io io, int& rc) {
  auto a = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand(
      "eval",
      "Evaluate a trained model on a store split: GED, HM-IoU, NCC, diversity, DSC, IoU with "
      "bootstrap intervals; writes eval/<split>/{summary.json, per_case.csv, samples.png}");
  sub->add_option("--run", a->run, "run directory (its config.yaml and best.pt, else last.pt)");
  sub->add_option("--checkpoint", a->checkpoint, "checkpoint .pt (with --config)");
  sub->add_option("--config", a->config, "the model's YAML config (with --checkpoint)");
  sub->add_option("--split", a->split, "store split to evaluate (default: eval.split, test)");
  // Ranges are checked by EvalConfig::validate, which names the option in one line.
  sub->add_option("--samples", a->samples, "latent samples per case (default: eval.samples)");
  sub->add_option("--max-cases", a->max_cases, "evaluate only the first N cases (0 = all)");
  sub->add_flag("--oracle", a->oracle,
                "also score the store's oracle draws (synthetic stores) into eval/<split>/oracle");
  sub->add_option("--out", a->out, "report directory (default: RUN_DIR/eval/<split>)");
  sub->add_option("--device", a->device, "auto | cpu | cuda (default: the config's run.device)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  sub->add_option("--compare", a->compare,
                  "print the table of saved summaries LABEL=SUMMARY.json ... and exit")
      ->take_all();
  sub->add_option("overrides", a->overrides, "config overrides key=value (e.g. eval.seed=3)");
  sub->callback([a, io, &rc] {
    run_eval(*a, io);
    rc = 0;
  });
}

}  // namespace psam::cli
