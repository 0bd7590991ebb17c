#include "psam/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "autocast.h"
#include "psam/io/state_dict.h"
#include "psam/train/schedule.h"
#include "psam/train/tensorboard.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::train {
namespace fs = std::filesystem;
using Terms = std::vector<std::pair<std::string, double>>;

RunPaths::RunPaths(std::string d)
    : dir(std::move(d)),
      config(dir + "/config.yaml"),
      checkpoints(dir + "/checkpoints"),
      last(checkpoints + "/last.pt"),
      best(checkpoints + "/best.pt"),
      metrics(dir + "/metrics.jsonl"),
      log(dir + "/train.log"),
      tensorboard(dir + "/tb") {}

std::string RunPaths::epoch_checkpoint(int64_t epoch) const {
  return fmt::format("{}/epoch_{:03d}.pt", checkpoints, epoch);
}

std::string to_string(TrainStatus status) {
  switch (status) {
    case TrainStatus::kFinished: return "finished";
    case TrainStatus::kEarlyStopped: return "early stopped";
    case TrainStatus::kInterrupted: return "stopped, resumable";
    case TrainStatus::kNonFinite: return "stopped: non-finite losses";
  }
  return "?";
}

namespace {

// A seed for validation's own generator, apart from the training stream's.
constexpr uint64_t kValidationStream = 0x76616c6964617465ULL;

void add_term(Terms& sums, const std::string& name, double value) {
  for (auto& [n, v] : sums) {
    if (n == name) {
      v += value;
      return;
    }
  }
  sums.emplace_back(name, value);
}

// Keeps the lines of metrics.jsonl up to `step`: a resumed run rewrites what the interrupted run
// logged after its checkpoint, so the file reads as one uninterrupted run.
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::is_regular_file(path)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() > step)
      continue;
    if (!j.is_object()) continue;  // a line cut by a crash
    kept += line + "\n";
  }
  write_file_atomic(path, [&](std::ostream& out) { out << kept; });
}

// Checkpoint temporaries (AtomicFile's "<name>.tmp<pid>_<n>") that a killed process left behind.
void remove_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().find(".pt.tmp") != std::string::npos)
      fs::remove(entry.path(), ec);
  }
}

// The default generators are shared handles; set their state under their lock.
void set_generator_state(at::Generator generator, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

const TrainConfig& validated(const TrainConfig& config) {
  config.validate();
  return config;
}

// Thrown when a stop request arrives during validation: the epoch's end is then redone on resume.
struct StopRequested {};

class Loop {
 public:
  Loop(TrainTask& task, data::Loader& train, data::Loader* val, const TrainerOptions& options)
      : task_(task),
        train_(train),
        val_(val),
        o_(options),
        c_(validated(options.config)),
        paths_(options.run_dir),
        optimizer_(task.trainable_parameters(), options.config),
        generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
    fs::create_directories(paths_.checkpoints);
    const int64_t per_epoch = train_.batches_per_epoch();
    PSAM_CHECK(per_epoch > 0, "train: the training split gives no batch");
    total_steps_ = per_epoch * c_.epochs;
    if (c_.max_steps > 0) total_steps_ = std::min(total_steps_, c_.max_steps);
    state_.best.metric = c_.best_metric;
    remove_temporaries(paths_.checkpoints);
    if (o_.resume) restore();
    // A new run replaces what an earlier attempt that never wrote a checkpoint logged.
    metrics_.open(paths_.metrics, o_.resume ? std::ios::app : std::ios::trunc);
    PSAM_CHECK(metrics_.good(),
               fmt::format("cannot write {}: {}", paths_.metrics, std::strerror(errno)));
    if (c_.tensorboard) tb_ = std::make_unique<SummaryWriter>(paths_.tensorboard);
  }

  TrainResult run() {
    TrainResult result;
    task_.train_mode(true);
    train_.seek(state_.loader);
    Progress progress(total_steps_, "train", progress_options());
    log::info(fmt::format("train: {} steps ({} per epoch, {} epochs) from step {} -> {}",
                          total_steps_, train_.batches_per_epoch(), c_.epochs, state_.step,
                          paths_.dir));
    while (state_.epoch < c_.epochs && state_.step < total_steps_) {
      while (state_.step < total_steps_ &&
             train_.position().batch < train_.batches_per_epoch()) {
        std::optional<data::Batch> batch = train_.next();
        PSAM_CHECK(batch.has_value(), "train: loader ended an epoch early");
        const bool ok = step(*batch, result);
        state_.loader = train_.position();
        progress.update(state_.step, [&] { return postfix(); });
        if (!ok) {
          progress.finish();
          return finish(result, TrainStatus::kNonFinite);
        }
        if (interrupted()) return stop(progress, result);
        if (periodic_checkpoint_due()) save(paths_.last);
      }
      if (train_.position().batch < train_.batches_per_epoch()) break;  // max_steps mid-epoch
      bool early_stop = false;
      try {
        early_stop = end_epoch(result);
      } catch (const StopRequested&) {
        return stop(progress, result);
      }
      if (early_stop) {
        progress.finish();
        return finish(result, TrainStatus::kEarlyStopped);
      }
    }
    save(paths_.last);
    progress.finish();
    return finish(result, TrainStatus::kFinished);
  }

 private:
  ProgressOptions progress_options() const {
    ProgressOptions p = o_.progress;
    p.initial = state_.step;
    return p;
  }

  bool interrupted() const {
    if (o_.stop_at_step > 0 && state_.step >= o_.stop_at_step) return true;
    return o_.interrupt != nullptr && o_.interrupt->load();
  }

  // A requested stop: last.pt holds everything to continue, then the run ends resumable.
  TrainResult stop(Progress& progress, TrainResult& result) {
    save(paths_.last);
    progress.finish();
    log::info(fmt::format("train: stopped at step {}, {} written; resume with --resume {}",
                          state_.step, paths_.last, paths_.dir));
    return finish(result, TrainStatus::kInterrupted);
  }

  // Mid-epoch last.pt (train.checkpoint_every_steps / _minutes); an epoch's end writes it anyway.
  bool periodic_checkpoint_due() const {
    if (train_.position().batch >= train_.batches_per_epoch()) return false;
    if (c_.checkpoint_every_steps > 0 && state_.step - last_saved_step_ >= c_.checkpoint_every_steps)
      return true;
    const std::chrono::duration<double, std::ratio<60>> since =
        std::chrono::steady_clock::now() - last_saved_time_;
    return c_.checkpoint_every_minutes > 0 && since.count() >= c_.checkpoint_every_minutes;
  }

  std::string postfix() const {
    std::string text = fmt::format("lr={:.2e}", optimizer_.lr());
    for (const auto& [name, value] : last_terms_) text += fmt::format(" {}={:.4f}", name, value);
    return text;
  }

  // One optimiser step; false when the run must stop (too many non-finite steps in a row).
  bool step(const data::Batch& batch, TrainResult& result) {
    optimizer_.set_lr(scheduled_lr(c_, state_.step, total_steps_));
    optimizer_.zero_grad();
    StepLoss loss;
    {
      CudaBf16Autocast autocast(o_.bf16 && o_.cuda);
      loss = task_.loss(batch, state_.step, generator_);
    }
    double total = loss.total.item<double>();
    double norm = std::nan("");
    if (std::isfinite(total)) {
      loss.total.backward();
      norm = c_.grad_clip > 0 ? clip_grad_norm(optimizer_.parameters(), c_.grad_clip)
                              : grad_norm(optimizer_.parameters());
    }
    if (!std::isfinite(total) || !std::isfinite(norm)) {
      optimizer_.zero_grad();
      ++state_.nonfinite_in_a_row;
      ++result.skipped_steps;
      log::warn(fmt::format("train: step {} skipped: non-finite {} ({}) on samples {}",
                            state_.step, std::isfinite(total) ? "gradient" : "loss",
                            std::isfinite(total) ? norm : total, fmt::join(batch.ids, ",")));
      write_line({{"kind", "nonfinite"}, {"epoch", state_.epoch}, {"step", state_.step},
                  {"ids", batch.ids}});
      if (state_.nonfinite_in_a_row > c_.max_nonfinite_steps) {
        log::error(fmt::format(
            "train: {} non-finite steps in a row (train.max_nonfinite_steps = {}): stopping; "
            "the last checkpoint is kept as it was",
            state_.nonfinite_in_a_row, c_.max_nonfinite_steps));
        return false;
      }
      return true;
    }
    optimizer_.step();
    state_.nonfinite_in_a_row = 0;
    ++state_.step;
    last_terms_.clear();
    last_terms_.emplace_back("loss", total);
    for (const auto& [name, value] : loss.terms) last_terms_.emplace_back(name, value.item<double>());
    for (const auto& [name, value] : last_terms_) add_term(state_.epoch_sums, name, value);
    ++state_.epoch_batches;
    if (state_.step % c_.log_every_steps == 0) {
      nlohmann::json line = {{"kind", "step"}, {"epoch", state_.epoch}, {"step", state_.step},
                             {"lr", optimizer_.lr()}, {"grad_norm", norm}};
      for (const auto& [name, value] : last_terms_) line["train/" + name] = value;
      write_line(line);
      scalars(line);
    }
    return true;
  }

  // Validation, checkpoints and early stopping at an epoch's end; true to stop early.
  bool end_epoch(TrainResult& result) {
    const int64_t epoch = state_.epoch;
    nlohmann::json line = {{"kind", "epoch"}, {"epoch", epoch + 1}, {"step", state_.step}};
    for (const auto& [name, sum] : state_.epoch_sums) {
      line["train/" + name] = sum / std::max<int64_t>(1, state_.epoch_batches);
    }
    bool improved = false;
    const bool validate_now = c_.val_every_epochs > 0 && (epoch + 1) % c_.val_every_epochs == 0;
    if (validate_now) {
      result.last_validation = validate(epoch);
      for (const auto& [name, value] : result.last_validation) line[name] = value;
      improved = update_best(result.last_validation, epoch);
    }
    write_line(line);
    scalars(line);
    log::info(fmt::format("epoch {}/{}: {}", epoch + 1, c_.epochs, line.dump()));

    state_.epoch = epoch + 1;
    state_.loader = {epoch + 1, 0};
    state_.epoch_sums.clear();
    state_.epoch_batches = 0;
    train_.seek(state_.loader);
    if (improved) save(paths_.best);
    if (c_.keep_epoch_checkpoints > 0 && (epoch + 1) % c_.checkpoint_every_epochs == 0) {
      save(paths_.epoch_checkpoint(epoch + 1));
      prune_epoch_checkpoints(epoch + 1);
    }
    save(paths_.last);
    return validate_now && c_.early_stop_patience > 0 &&
           state_.best.stale >= c_.early_stop_patience;
  }

  Terms validate(int64_t epoch) {
    Terms metrics;
    if (val_ != nullptr && val_->batches_per_epoch() > 0) {
      task_.train_mode(false);
      at::NoGradGuard no_grad;
      at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o_.seed ^ kValidationStream);
      Terms sums;
      int64_t batches = 0;
      val_->seek({0, 0});
      while (auto batch = val_->next()) {
        if (interrupted()) throw StopRequested{};
        const StepLoss loss = task_.loss(*batch, state_.step, generator);
        add_term(sums, "loss", loss.total.item<double>());
        for (const auto& [name, value] : loss.terms) add_term(sums, name, value.item<double>());
        ++batches;
      }
      for (const auto& [name, sum] : sums) metrics.emplace_back("val/" + name, sum / batches);
      task_.train_mode(true);
    }
    if (o_.validation) {
      if (interrupted()) throw StopRequested{};
      for (auto& m : o_.validation(epoch)) metrics.push_back(std::move(m));
    }
    return metrics;
  }

  bool update_best(const Terms& metrics, int64_t epoch) {
    BestState& best = state_.best;
    const auto it = std::find_if(metrics.begin(), metrics.end(),
                                 [&](const auto& m) { return m.first == best.metric; });
    if (it == metrics.end()) {
      std::vector<std::string> names;
      for (const auto& m : metrics) names.push_back(m.first);
      fail(fmt::format("train.best_metric '{}' is not a validation metric; there are: {}",
                       best.metric, names.empty() ? "none (no validation split or hook)"
                                                  : fmt::format("{}", fmt::join(names, ", "))));
    }
    const double value = it->second;
    const bool better = std::isnan(best.value) ||
                        (c_.best_mode == MetricMode::kMin ? value < best.value : value > best.value);
    if (better) {
      best.value = value;
      best.epoch = epoch + 1;
      best.stale = 0;
    } else {
      ++best.stale;
    }
    return better;
  }

  void prune_epoch_checkpoints(int64_t epoch) {
    for (int64_t e = epoch - c_.keep_epoch_checkpoints; e >= 1; --e) {
      const std::string path = paths_.epoch_checkpoint(e);
      if (!fs::exists(path)) break;
      fs::remove(path);
    }
  }

  void save(const std::string& path) {
    Checkpoint c;
    c.model = io::state_dict(task_.module());
    c.optimizer_kind = c_.optimizer == OptimizerKind::kAdamW ? "adamw" : "adam";
    c.optimizer = optimizer_.state_dict();
    c.schedule_kind = schedule_name();
    c.lr = optimizer_.lr();
    c.state = state_;
    c.rng_cpu = at::detail::getDefaultCPUGenerator().get_state();
    c.rng_train = generator_.get_state();
    if (at::hasCUDA()) c.rng_cuda = at::globalContext().defaultGenerator(at::kCUDA).get_state();
    c.config_hash = o_.config_hash;
    c.model_config = o_.model_config;
    c.preprocessing = o_.preprocessing;
    write_checkpoint(path, c);
    if (path == paths_.last) {
      last_saved_step_ = state_.step;
      last_saved_time_ = std::chrono::steady_clock::now();
    }
  }

  void restore() {
    PSAM_CHECK(fs::exists(paths_.last),
               fmt::format("cannot resume {}: no checkpoints/last.pt there", paths_.dir));
    const Checkpoint c = read_checkpoint(paths_.last);
    if (c.config_hash != o_.config_hash) {
      log::warn(fmt::format("resume: the config differs from the one {} was written with "
                            "(hash {} -> {})",
                            paths_.last, c.config_hash.substr(0, 12),
                            o_.config_hash.substr(0, 12)));
    }
    const std::string kind = c_.optimizer == OptimizerKind::kAdamW ? "adamw" : "adam";
    PSAM_CHECK(c.optimizer_kind == kind,
               fmt::format("cannot resume {}: it was trained with {}, the config says {}",
                           paths_.last, c.optimizer_kind, kind));
    io::load_state_dict(task_.module(), c.model, "", paths_.last);
    optimizer_.load_state_dict(c.optimizer);
    state_ = c.state;
    state_.best.metric = c_.best_metric;
    set_generator_state(at::detail::getDefaultCPUGenerator(), c.rng_cpu);
    generator_.set_state(c.rng_train);
    if (c.rng_cuda.defined() && at::hasCUDA()) {
      set_generator_state(at::globalContext().defaultGenerator(at::kCUDA), c.rng_cuda);
    }
    truncate_metrics(paths_.metrics, state_.step);
    last_saved_step_ = state_.step;
    log::info(fmt::format("resume: {} at epoch {}, step {}", paths_.last, state_.epoch + 1,
                          state_.step));
  }

  std::string schedule_name() const {
    switch (c_.schedule) {
      case ScheduleKind::kConstant: return "constant";
      case ScheduleKind::kStep: return "step";
      case ScheduleKind::kCosine: return "cosine";
    }
    return "?";
  }

  void write_line(const nlohmann::json& line) {
    metrics_ << line.dump() << "\n";
    metrics_.flush();
    PSAM_CHECK(metrics_.good(), fmt::format("cannot write {}: {} (disk full?)", paths_.metrics,
                                            std::strerror(errno)));
  }

  void scalars(const nlohmann::json& line) {
    if (!tb_) return;
    for (const auto& [key, value] : line.items()) {
      if (key.find('/') != std::string::npos && value.is_number()) {
        tb_->add_scalar(key, value.get<double>(), state_.step);
      }
    }
    if (line.contains("lr")) tb_->add_scalar("train/lr", line["lr"].get<double>(), state_.step);
  }

  TrainResult finish(TrainResult& result, TrainStatus status) {
    result.status = status;
    result.steps = state_.step;
    result.epochs = state_.epoch;
    result.best = state_.best;
    log::info(fmt::format("train: {} after {} steps", to_string(status), state_.step));
    return result;
  }

  TrainTask& task_;
  data::Loader& train_;
  data::Loader* val_;
  const TrainerOptions& o_;
  TrainConfig c_;
  RunPaths paths_;
  AdamOptimizer optimizer_;
  at::Generator generator_;
  int64_t total_steps_ = 0;
  TrainState state_;
  int64_t last_saved_step_ = 0;  // state_.step when last.pt was last written (or restored)
  std::chrono::steady_clock::time_point last_saved_time_ = std::chrono::steady_clock::now();
  Terms last_terms_;
  std::ofstream metrics_;
  std::unique_ptr<SummaryWriter> tb_;
};

}  // namespace

TrainResult train(TrainTask& task, data::Loader& train_loader, data::Loader* val_loader,
                  const TrainerOptions& options) {
  Loop loop(task, train_loader, val_loader, options);
  return loop.run();
}

}  // namespace psam::train
