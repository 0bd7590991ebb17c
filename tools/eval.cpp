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
#include "psam/data/loader/embedding_cache.h"
#include "psam/data/store/store.h"
#include "psam/dist/group.h"
#include "psam/dist/launch.h"
#include "psam/eval/evaluator.h"
#include "psam/eval/report.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/load.h"
#include "psam/models/registry.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string run;
  std::string checkpoint;
  std::string kind;  // a method that learns nothing, run without weights
  std::string config;
  std::string store;
  std::string split;
  std::optional<int64_t> samples;
  std::optional<int64_t> max_cases;
  bool oracle = false;
  std::string out;
  std::string device;  // empty: the config's run.device
  bool ema = false;     // --weights ema
  std::vector<std::string> compare;
  std::vector<std::string> overrides;
};

// What to evaluate, resolved from the arguments and checked before anything is written.
struct EvalPlan {
  config::Config config;
  std::string config_path;  // empty: no config file (a checkpoint with --store)
  std::string model_path;   // the run directory or checkpoint; empty with --kind
  std::string out;
};

EvalPlan plan(const EvalArgs& a) {
  PSAM_CHECK(!a.run.empty() + !a.checkpoint.empty() + !a.kind.empty() == 1,
             "psam eval: give one of --run RUN_DIR, --checkpoint FILE or --kind KIND");
  PSAM_CHECK(!a.ema || a.kind.empty(),
             "psam eval: --weights ema needs a checkpoint or run; --kind has no weights");
  EvalPlan p;
  if (!a.kind.empty()) {
    PSAM_CHECK(!a.config.empty() || !a.store.empty(),
               "psam eval: --kind needs the data: --config CONFIG (its data and eval sections) "
               "or --store DIR");
    p.config_path = a.config;
  } else if (!a.run.empty()) {
    PSAM_CHECK(fs::is_directory(a.run), fmt::format("--run {}: not a directory", a.run));
    PSAM_CHECK(a.config.empty(), "psam eval: --run takes its own config.yaml; drop --config");
    p.config_path = (fs::path(a.run) / "config.yaml").string();
    PSAM_CHECK(fs::exists(p.config_path),
               fmt::format("--run {}: no config.yaml (not a psam run directory)", a.run));
    p.model_path = a.run;
  } else {
    PSAM_CHECK(fs::is_regular_file(a.checkpoint),
               fmt::format("--checkpoint {}: no such file", a.checkpoint));
    PSAM_CHECK(!a.config.empty() || !a.store.empty(),
               "psam eval: --checkpoint needs the data: --config CONFIG (its data and eval "
               "sections) or --store DIR");
    p.config_path = a.config;
    p.model_path = a.checkpoint;
  }
  p.config = config::load<config::Config>(p.config_path, a.overrides);
  if (!a.store.empty()) p.config.data.store = a.store;
  PSAM_CHECK(!p.config.data.store.empty(),
             fmt::format("{}: data.store is not set (give --store DIR)", p.config_path));
  auto& e = p.config.eval;
  if (!a.split.empty()) e.split = a.split;
  if (a.samples) {
    e.samples = *a.samples;
    e.sample_counts.clear();
  }
  if (a.max_cases) e.max_cases = *a.max_cases;
  e.preprocessing = p.config.data.loader;
  e.validate();
  if (!a.device.empty()) p.config.run.device = value_of<RunOptions::Device>(a.device, "--device");

  if (!a.out.empty()) {
    p.out = a.out;
  } else if (!a.kind.empty()) {
    p.out = (fs::path(p.config.run.out_dir) / a.kind / "eval" / e.split).string();
  } else {
    // A run's reports go under the run; a loose checkpoint's beside it (or beside its
    // checkpoints/ folder).
    fs::path base = !a.run.empty() ? fs::path(a.run) : fs::path(a.checkpoint).parent_path();
    if (a.run.empty() && base.filename() == "checkpoints") base = base.parent_path();
    // The EMA's reports beside the weights', not over them.
    p.out = (base / "eval" / (e.split + (a.ema ? "_ema" : ""))).string();
  }
  return p;
}

// The model the plan names, rebuilt from its stored config (a config file's model section is
// only the fallback for checkpoints that store none); the evaluation's pixel mapping becomes
// the one the model was trained with.
models::LoadedModel load(EvalPlan& p, const std::string& kind, bool ema,
                         const c10::Device& device) {
  if (!kind.empty()) {
    models::LoadedModel fixed;
    fixed.model = models::build_unlearned(kind, device);
    return fixed;
  }
  const std::optional<models::ModelConfig> fallback =
      p.config_path.empty() ? std::nullopt : std::optional<models::ModelConfig>(p.config.model);
  models::ModelFlags flags;
  flags.ema = ema;
  models::LoadedModel loaded = models::load_model(p.model_path, flags, fallback, device);
  if (loaded.stored_config && fallback) {
    const auto differences =
        models::model_config_differences(loaded.model->config(), p.config.model);
    std::string listed;
    for (const auto& d : differences) {
      if (d.rfind("model.init_from", 0) != 0 && d.rfind("model.trainable", 0) != 0)
        listed += (listed.empty() ? "" : "; ") + d;
    }
    if (!listed.empty()) {
      log::warn(fmt::format("{}: the model section of {} differs from the model stored in {} "
                            "({} -> config); the stored model is evaluated",
                            p.model_path, p.config_path, loaded.source.checkpoint, listed));
    }
  }
  if (loaded.preprocessing) {
    data::LoaderOptions stored = p.config.eval.preprocessing;
    data::read_intensity_json(*loaded.preprocessing, stored, loaded.source.checkpoint);
    if (data::intensity_key(stored) != data::intensity_key(p.config.eval.preprocessing)) {
      log::warn(fmt::format("{}: the config maps intensities as '{}', the model was trained "
                            "with '{}'; using the model's",
                            p.model_path, data::intensity_key(p.config.eval.preprocessing),
                            data::intensity_key(stored)));
    }
    p.config.eval.preprocessing = stored;
  }
  return loaded;
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
  io.out << eval::comparison_table(rows) << eval::table_notes(rows);
}

void run_eval(const EvalArgs& a, Io io) {
  if (!a.compare.empty()) {
    PSAM_CHECK(a.run.empty() && a.checkpoint.empty(),
               "psam eval: --compare prints saved summaries; it takes no --run/--checkpoint");
    print_compare(a.compare, io);
    return;
  }
  EvalPlan p = plan(a);
  // Launched as several processes (torchrun, srun, env vars), the cases are shared out and rank 0
  // writes the report.
  p.config.dist.validate();
  const dist::Launch launch =
      dist::launch_from_environment(p.config.dist.master_addr, p.config.dist.master_port);
  c10::Device device = resolve_device(p.config.run.device);
  if (device.is_cuda() && launch.world_size > 1) device = c10::Device(c10::kCUDA, launch.local_rank);
  const auto group =
      dist::init_group(launch, {p.config.dist.backend, device.is_cuda(), p.config.dist.timeout_s});
  if (!group->is_main()) log::set_console_level("warn");
  const auto store = data::DatasetStore::open(p.config.data.store);
  const std::vector<int64_t> indices = store.split_indices(p.config.eval.split);
  PSAM_CHECK(!a.oracle || store.has_oracle(),
             fmt::format("--oracle: {} has no oracle_masks.npy (only synthetic stores have oracle "
                         "draws)",
                         store.dir()));
  const models::LoadedModel loaded = load(p, a.kind, a.ema, device);
  models::Model& model = *loaded.model;
  const auto& e = p.config.eval;

  const nlohmann::json identity = {
      {"checkpoint", loaded.source.checkpoint},
      {"config", p.config_path},
      {"config_hash", config::hash(p.config)},
      {"model_kind", model.kind()},
      {"latent_net", to_string(model.config().prob.latent_net)},
      {"model_config", nlohmann::json::parse(models::model_config_json(model.config()))},
      {"store", store.dir()},
      {"store_fingerprint", store.fingerprint()},
  };
  const eval::EvalResult result = eval::evaluate(model, store, indices, e, group.get());
  if (!group->is_main()) return;
  std::vector<std::pair<std::string, nlohmann::json>> rows = eval::rows_by_sample_count(
      model.deterministic() ? "deterministic" : "probabilistic",
      eval::eval_summary_json(result, identity));
  std::optional<eval::EvalResult> oracle;
  if (a.oracle) {
    oracle = eval::evaluate_oracle(store, indices, e);
    for (auto& row : eval::rows_by_sample_count("oracle", eval::eval_summary_json(*oracle, identity)))
      rows.push_back(std::move(row));
  }
  eval::write_eval_report(result, p.out, identity);
  if (oracle) eval::write_eval_report(*oracle, p.out + "/oracle", identity);

  io.out << fmt::format("scored {}{}\n",
                        a.kind.empty() ? loaded.source.checkpoint : "the method " + a.kind,
                        loaded.source.run_dir.empty() ? ""
                                                      : " (run " + loaded.source.run_dir + ")");
  io.out << eval::comparison_table(rows) << eval::table_notes(rows);
  io.out << eval::quality_table(result);
  io.out << fmt::format(
      "{} case(s) of split '{}'{}, N={} samples, K={} annotators, prompt {}; mean [95% bootstrap "
      "interval]; GED {}, HM-IoU {}; {:.1f} s\nwrote {}\n",
      result.cases.size(), e.split,
      result.partial() ? fmt::format(" (a PARTIAL evaluation: {} of its {} cases, max_cases {})",
                                     result.cases.size(), result.split_cases, result.max_cases)
                       : "",
      result.samples, result.annotators,
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
  sub->add_option("--checkpoint", a->checkpoint,
                  "a psam checkpoint or export (the model is rebuilt from its stored config)");
  sub->add_option("--kind", a->kind,
                  "a method that learns nothing (e.g. box_ellipse, the prompt-only baseline), "
                  "run without weights");
  sub->add_option(
      "--config", a->config,
      "with --checkpoint or --kind: a YAML config for the data and eval sections (and the "
      "model of a checkpoint that stores none)");
  sub->add_option("--store", a->store, "dataset store to evaluate on (default: data.store)");
  sub->add_option("--split", a->split, "store split to evaluate (default: eval.split, test)");
  // Ranges are checked by EvalConfig::validate, which names the option in one line.
  sub->add_option("--samples", a->samples, "latent samples per case (default: eval.samples)");
  sub->add_option("--max-cases", a->max_cases, "evaluate only the first N cases (0 = all)");
  sub->add_flag("--oracle", a->oracle,
                "also score the store's oracle draws (synthetic stores) into eval/<split>/oracle");
  sub->add_option("--out", a->out, "report directory (default: RUN_DIR/eval/<split>)");
  add_weights_option(sub, a->ema);
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
