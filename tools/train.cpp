// psam train CONFIG [key=value ...] [--resume RUN_DIR|auto]: builds the run from a config (model,
// data, loss, schedule), writes the run directory and trains; --resume continues a run from its
// checkpoints/last.pt with the run's own config.yaml (overrides may extend it, e.g. train.epochs);
// --resume auto continues the run CONFIG names when it has a checkpoint and starts it otherwise
// (one command line for a job that a cluster may stop and requeue).
#include <fmt/format.h>
#include <signal.h>
#include <string.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "cli.h"
#include "config/config.h"
#include "psam/data/store/store.h"
#include "psam/dist/group.h"
#include "psam/dist/launch.h"
#include "psam/eval/evaluator.h"
#include "psam/io/state_dict.h"
#include "psam/models/embedding_cache.h"
#include "psam/models/registry.h"
#include "psam/train/autocast.h"
#include "psam/train/model_task.h"
#include "psam/train/param_groups.h"
#include "psam/train/trainer.h"
#include "psam/util/attention_path.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"
#include "psam/util/threads.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

struct TrainArgs {
  std::vector<std::string> positional;  // CONFIG then overrides; only overrides with --resume
  std::string resume;
  bool print_config = false;
};

// Exit status of a run stopped on request with checkpoints/last.pt written: EX_TEMPFAIL ("try
// again later"), so a job script can tell it from success and failure and requeue the job.
constexpr int kExitResumable = 75;
constexpr const char* kResumeAuto = "auto";

// Ctrl-C, and what clusters send before they stop a job (SIGTERM: Slurm time limits and
// preemption, Kubernetes; SIGUSR1: Slurm's --signal).
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1};
std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
  g_stop = true;
  // A second signal then takes its default action: the process ends at once.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  for (int s : kStopSignals) ::sigaction(s, &fallback, nullptr);
}

// While training: the first stop signal finishes the current step, writes last.pt and stops the
// run (resumable); a second one ends the process at once.
class StopSignals {
 public:
  StopSignals() {
    g_stop = false;
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESTART;  // system calls in flight carry on
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < std::size(kStopSignals); ++i)
      ::sigaction(kStopSignals[i], &action, &previous_[i]);
  }
  ~StopSignals() {
    for (size_t i = 0; i < std::size(kStopSignals); ++i)
      ::sigaction(kStopSignals[i], &previous_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction previous_[std::size(kStopSignals)]{};
};

// --resume auto: the run directory CONFIG (with overrides) trains into, when it holds a
// checkpoint to continue from; empty when the run is yet to start.
std::string existing_run(const std::string& config_path,
                         const std::vector<std::string>& overrides) {
  const config::Config c = config::load<config::Config>(config_path, overrides);
  const std::string name = c.run.name.empty() ? fs::path(config_path).stem().string() : c.run.name;
  const train::RunPaths paths(c.run.out_dir + "/" + name);
  return fs::exists(paths.last) ? paths.dir : std::string();
}

// The data section's loader options in the frame the method asks for, this rank's shard. The
// training and the validation loader both feed the method's loss, so both are prepared for it
// (e.g. masks in SAM's frame); the validation one is not shuffled or jittered.
data::LoaderOptions loader_options(const config::Config& c, const models::Model& model,
                                   const dist::Group& group, bool training) {
  data::LoaderOptions o = c.data.loader;
  o.seed = static_cast<uint64_t>(c.run.seed);
  o.shard_rank = group.rank();
  o.shard_count = group.size();
  model.prepare_loader(o, /*training=*/true);
  if (training) o.augment = c.data.augment;  // validation sees the images as they are
  if (!training) {
    o.shuffle = false;
    o.drop_last = false;
    o.box_jitter = 0;
  }
  return o;
}

// The embedding cache of the method's frozen encoder, when the config asks for one.
std::unique_ptr<data::EmbeddingCache> open_cache(const config::Config& c,
                                                 const data::DatasetStore& store,
                                                 models::Model& model,
                                                 const data::LoaderOptions& options) {
  if (!c.train.embedding_cache) return nullptr;
  if (c.data.augment.enabled() && model.cacheable_encoder()) {
    log::info(
        "embedding cache: off (data.augment transforms the images every step, so no stored "
        "embedding matches them)");
    return nullptr;
  }
  const std::string dir = c.train.embedding_cache_dir.empty() ? c.run.out_dir + "/.embedding_cache"
                                                              : c.train.embedding_cache_dir;
  auto cache = models::open_embedding_cache(model, store, options, dir);
  if (!cache) {
    log::info(
        fmt::format("embedding cache: off ({} has no frozen image encoder to cache: it "
                    "trains the encoder or adapters inside it, or has none)",
                    model.kind()));
    return nullptr;
  }
  log::info(fmt::format("embedding cache: {} ({} of {} images cached)", cache->path(),
                        cache->filled(), cache->count()));
  model.set_embedding_cache(cache.get());
  return cache;
}

// Leaves of a JSON object as "a.b.c" -> value text.
void flatten_json(const nlohmann::json& j, const std::string& prefix,
                  std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items())
      flatten_json(value, prefix.empty() ? key : prefix + "." + key, out);
  } else {
    out[prefix] = j.dump();
  }
}

// A resumed run keeps its model: the checkpoint's weights fit only it. psam::Error naming every
// model key an override changes, with both values, before anything is written.
void check_resumed_model(const models::ModelConfig& run, const models::ModelConfig& now,
                         const std::string& config_path) {
  if (run == now) return;
  std::map<std::string, std::string> before, after;
  flatten_json(nlohmann::json::parse(models::model_config_json(run)), "model", before);
  flatten_json(nlohmann::json::parse(models::model_config_json(now)), "model", after);
  std::string changes;
  for (const auto& [key, value] : after) {
    const auto it = before.find(key);
    const std::string old = it == before.end() ? "unset" : it->second;
    if (old != value)
      changes += fmt::format("{}{}: {} -> {}", changes.empty() ? "" : "; ", key, old, value);
  }
  fail(
      fmt::format("--resume: the run's checkpoint holds the model of {}; an override changes it "
                  "({}). Start a new run for another model (init_from the old one to keep its "
                  "weights)",
                  config_path, changes.empty() ? "model" : changes));
}

// Puts a run's config.yaml back on scope exit unless released, when checkpoints/last.pt has not
// changed since (the new config never described a checkpoint).
class RestoreConfig {
 public:
  explicit RestoreConfig(const train::RunPaths& paths)
      : paths_(paths), text_(read_file(paths.config)) {
    std::error_code ec;  // no last.pt: the trainer says so
    last_ = fs::last_write_time(paths.last, ec);
  }
  ~RestoreConfig() {
    std::error_code ec;
    if (armed_ && fs::last_write_time(paths_.last, ec) == last_ && !ec)
      write_file_atomic(paths_.config, [&](std::ostream& os) { os << text_; });
  }
  RestoreConfig(const RestoreConfig&) = delete;
  RestoreConfig& operator=(const RestoreConfig&) = delete;
  void release() { armed_ = false; }

 private:
  train::RunPaths paths_;
  std::string text_;
  fs::file_time_type last_;
  bool armed_ = true;
};

int run_train(const TrainArgs& a, Io io) {
  std::string config_path;
  std::vector<std::string> overrides = a.positional;
  std::string resume = a.resume;
  if (resume == kResumeAuto) {
    PSAM_CHECK(!overrides.empty(),
               "psam train --resume auto: give the config file too (it names the run directory)");
    resume = existing_run(overrides.front(), {overrides.begin() + 1, overrides.end()});
    if (!resume.empty()) overrides.erase(overrides.begin());
  }
  if (resume.empty()) {
    PSAM_CHECK(!overrides.empty(), "psam train: give a config file (or --resume RUN_DIR)");
    config_path = overrides.front();
    overrides.erase(overrides.begin());
  } else {
    config_path = resume + "/config.yaml";
    PSAM_CHECK(fs::exists(config_path),
               fmt::format("--resume {}: no config.yaml there (not a run directory)", resume));
  }
  for (const auto& o : overrides) {
    PSAM_CHECK(o.find('=') != std::string::npos,
               fmt::format("psam train: '{}' is not a key=value override", o));
  }
  config::Config c = config::load<config::Config>(config_path, overrides);
  if (!resume.empty())
    check_resumed_model(config::load<config::Config>(config_path, {}).model, c.model, config_path);
  if (a.print_config) {
    io.out << config::to_yaml(c, /*with_help=*/true);
    return 0;
  }
  if (c.run.name.empty()) c.run.name = fs::path(config_path).stem().string();
  PSAM_CHECK(!c.data.store.empty(), fmt::format("{}: data.store is not set", config_path));
  c.train.validate();
  c.loss.validate();
  {
    // img_size: auto is resolved once the store is open; everything else is checked now.
    models::ModelConfig shape = c.model;
    if (shape.prob.sam.img_size == sam::kAutoImgSize)
      shape.prob.sam.img_size = shape.prob.sam.patch_size;
    shape.validate();
  }
  c.dist.validate();
  PSAM_CHECK(models::registry_entry(c.model.kind).learns,
             fmt::format("model.kind {} learns nothing from data, so there is nothing to train; "
                         "evaluate it directly: psam eval --kind {} --store DIR",
                         c.model.kind, c.model.kind));

  // The job's processes meet first, so no rank looks at the run directory before all are in.
  const dist::Launch launch = dist::launch_from_environment(c.dist.master_addr, c.dist.master_port);
  c10::Device device = resolve_device(c.run.device);
  if (device.is_cuda() && launch.world_size > 1)
    device = c10::Device(c10::kCUDA, launch.local_rank);
  // Before anything is written, not at the first step.
  if (c.run.precision == RunOptions::Precision::kBf16) train::check_bf16_autocast(device.type());
  if (c.run.precision == RunOptions::Precision::kFp16) train::check_fp16_autocast(device.type());
  const auto group = dist::init_group(launch, {c.dist.backend, device.is_cuda(), c.dist.timeout_s});
  const bool main = group->is_main();
  if (!main) log::set_console_level("warn");

  const std::string run_dir = resume.empty() ? c.run.out_dir + "/" + c.run.name : resume;
  const train::RunPaths paths(run_dir);
  if (resume.empty()) {
    PSAM_CHECK(!fs::exists(paths.last),
               fmt::format("run directory {} already holds a run; resume it with --resume {} or "
                           "choose another run.name",
                           run_dir, run_dir));
  }
  if (resume.empty()) config::make_paths_absolute(c);

  // The store, its splits and model.init_from are checked before the run directory exists, so
  // that a mistake leaves no half-made run behind.
  set_num_threads(c.run.threads);
  torch::manual_seed(static_cast<uint64_t>(c.run.seed));
  auto store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(c.data.store));
  store->split_indices(c.data.train_split);  // psam::Error naming the store's splits
  // img_size: auto becomes a number here, so config.yaml and every checkpoint hold the frame.
  const int64_t patch = c.model.prob.sam.patch_size;
  const bool auto_size =
      models::resolve_img_size(c.model, store->info().height, store->info().width);
  const auto model = models::build_model(c.model, device);
  model->set_activation_checkpointing(train::activation_checkpointing(c.train));
  train::resolve_param_options(model->trainable_parameters(), c.train);  // lr_mult names parts

  // config.yaml describes checkpoints/last.pt: a resume that fails before writing a checkpoint
  // (an override the checkpoint cannot take) puts the run's config back.
  std::optional<RestoreConfig> restore;
  if (main && !resume.empty()) restore.emplace(paths);
  group->barrier();  // every rank has checked before rank 0 writes
  if (main) {
    fs::create_directories(paths.checkpoints);
    config::write(c, paths.config);
    log::add_file(paths.log);
  }
  struct CloseLog {
    ~CloseLog() { log::close_files(); }
  } close_log;
  log::info(fmt::format("psam train {} -> {} on {}, {} attention", config_path, run_dir,
                        device.str(), name_of(attention_path())));
  if (auto_size)
    log::info(fmt::format(
        "model.sam.img_size: auto -> {} (the store's {} x {} images in {} px patches, at most "
        "model.img_size_max {})",
        c.model.prob.sam.img_size, store->info().height, store->info().width, patch,
        c.model.img_size_max));
  data::Loader train_loader(store, store->split_indices(c.data.train_split),
                            loader_options(c, *model, *group, true));
  std::unique_ptr<data::Loader> val_loader;
  const auto& sets = store->splits().sets;
  const bool has_val = std::any_of(sets.begin(), sets.end(),
                                   [&](const auto& s) { return s.first == c.data.val_split; });
  if (c.train.val_every_epochs > 0 && has_val) {
    val_loader = std::make_unique<data::Loader>(store, store->split_indices(c.data.val_split),
                                                loader_options(c, *model, *group, false));
  } else if (c.train.val_every_epochs > 0) {
    log::warn(fmt::format("{} has no split '{}': no validation", c.data.store, c.data.val_split));
  }
  // Rank 0 creates the cache; every rank then fills the rows of the images it owns.
  std::unique_ptr<data::EmbeddingCache> cache;
  if (main) cache = open_cache(c, *store, *model, train_loader.options());
  group->barrier();
  if (!main) cache = open_cache(c, *store, *model, train_loader.options());
  train::ModelTask task(*model, c.loss);
  train::ValidationHook validation;
  if (c.train.val_metrics && val_loader) {
    validation = [&, val_indices = store->split_indices(c.data.val_split)](int64_t) {
      eval::EvalConfig e = c.eval;
      e.split = c.data.val_split;
      e.preprocessing = loader_options(c, *model, *group, false);
      e.figure_cases = 0;
      const eval::EvalResult r = eval::evaluate(*model, *store, val_indices, e, group.get());
      std::vector<std::pair<std::string, double>> metrics;
      for (const auto& s : r.stats) metrics.emplace_back("val/" + s.name, s.mean);
      return metrics;
    };
  }

  StopSignals stop_signals;
  train::TrainerOptions options;
  options.config = c.train;
  options.run_dir = run_dir;
  options.config_hash = config::hash(c);
  options.model_config = models::model_config_json(c.model);
  options.preprocessing = data::intensity_json(c.data.loader);
  options.seed = static_cast<uint64_t>(c.run.seed);
  options.resume = !resume.empty();
  options.cuda = device.is_cuda();
  options.precision = c.run.precision;
  options.grad_scaler = c.run.precision == RunOptions::Precision::kFp16;
  options.interrupt = &g_stop;
  options.validation = validation;
  options.group = group.get();
  options.bucket_bytes = static_cast<int64_t>(c.dist.bucket_mb * (1 << 20));
  if (!main) {
    options.progress.tty = false;
    options.progress.log_every_s = std::numeric_limits<double>::infinity();
  }
  const train::TrainResult result = train::train(task, train_loader, val_loader.get(), options);
  if (restore) restore->release();

  if (main) {
    io.out << fmt::format("{}: {} after {} steps ({} epochs)", run_dir,
                          train::to_string(result.status), result.steps, result.epochs);
    if (!std::isnan(result.best.value)) {
      io.out << fmt::format("; best {} = {:.6g} (epoch {})", result.best.metric, result.best.value,
                            result.best.epoch);
    }
    io.out << "\n";
  }
  if (result.status == train::TrainStatus::kNonFinite) {
    io.err << "psam: error: training stopped after repeated non-finite losses; see " << paths.log
           << "\n";
    return 1;
  }
  if (result.status == train::TrainStatus::kInterrupted) {
    if (g_stop_signal != 0)
      log::info(fmt::format("train: stopped by {}", ::strsignal(g_stop_signal.load())));
    return kExitResumable;
  }
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Io io, int& rc) {
  auto args = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "train a model from a YAML config");
  sub->add_option("args", args->positional,
                  "CONFIG [key=value ...] (only overrides with --resume)");
  sub->add_option("--resume", args->resume,
                  "continue the run in RUN_DIR from checkpoints/last.pt; 'auto': continue the run "
                  "CONFIG names if it has a checkpoint, else start it");
  sub->add_flag("--print-config", args->print_config,
                "print the resolved config with each option's help and exit");
  sub->callback([args, io, &rc] { rc = run_train(*args, io); });
}

}  // namespace psam::cli
