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
#include <unordered_map>

#include "psam/dist/gradient_sync.h"
#include "psam/io/state_dict.h"
#include "psam/train/autocast.h"
#include "psam/train/collapse.h"
#include "psam/train/grad_scaler.h"
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

// A generator stream of its own for each rank (rank 0 keeps the single-process stream).
constexpr uint64_t kRankStream = 0x72616e6b00000000ULL;

// The weighted sum over ranks of this rank's loss terms (weight = its share of the global
// batch): the global batch's means. A rank without samples adds zeros; rank 0 always has
// samples, so its term names are the ones logged.
Terms global_terms(dist::Group& group, const StepLoss* loss, double weight, Terms names) {
  at::Tensor values = at::zeros({static_cast<int64_t>(names.size())}, at::kDouble);
  if (loss != nullptr) {
    values[0] = loss->total.item<double>() * weight;
    for (size_t k = 0; k < loss->terms.size() && k + 1 < names.size(); ++k)
      values[static_cast<int64_t>(k) + 1] = loss->terms[k].second.item<double>() * weight;
  }
  group.allreduce_sum(values);
  for (size_t k = 0; k < names.size(); ++k) names[k].second = values[static_cast<int64_t>(k)].item<double>();
  return names;
}

// The names of the logged terms ("loss" first), as rank 0 has them, on every rank.
Terms term_names(dist::Group& group, const StepLoss* loss, Terms known) {
  if (loss != nullptr) {
    known = {{"loss", 0.0}};
    for (const auto& [name, value] : loss->terms) known.emplace_back(name, 0.0);
  }
  if (group.size() == 1) return known;
  // Ranks without samples in this batch learn rank 0's count; the names they already know
  // from earlier batches (every rank logs nothing, so only the count must agree).
  at::Tensor count = at::full({1}, static_cast<int64_t>(known.size()), at::kLong);
  group.broadcast(count, 0);
  known.resize(static_cast<size_t>(count.item<int64_t>()), {"", 0.0});
  return known;
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
        single_(options.group == nullptr ? dist::single_process_group() : nullptr),
        group_(options.group != nullptr ? *options.group : *single_),
        generator_(at::make_generator<at::CPUGeneratorImpl>(
            options.seed ^ (group_.rank() == 0 ? 0 : kRankStream + group_.rank()))) {
    if (group_.is_main()) fs::create_directories(paths_.checkpoints);
    if (group_.size() > 1) {
      broadcast_weights();
      // With accumulation the gradients are sent once per group, after its last backward.
      sync_ = std::make_unique<dist::GradientSync>(group_, task.trainable_parameters(),
                                                   options.bucket_bytes,
                                                   /*overlap=*/c_.accumulate_steps == 1);
      log::info(fmt::format("train: rank {} of {}, gradients averaged in {} buckets",
                            group_.rank(), group_.size(), sync_->buckets()));
    }
    const int64_t per_epoch = train_.batches_per_epoch();
    PSAM_CHECK(per_epoch > 0, "train: the training split gives no batch");
    total_steps_ = steps_per_epoch() * c_.epochs;
    if (c_.max_steps > 0) total_steps_ = std::min(total_steps_, c_.max_steps);
    state_.best.metric = c_.best_metric;
    if (o_.grad_scaler) {
      GradScalerOptions scaler;
      scaler.init_scale = o_.grad_scaler_init;
      scaler_.emplace(scaler);
    }
    if (c_.ema_decay > 0) {
      at::NoGradGuard no_grad;
      for (const auto& [name, p] : optimizer_.parameters())
        ema_.emplace_back(name, p.detach().clone());
    }
    if (group_.is_main()) remove_temporaries(paths_.checkpoints);
    if (o_.resume) restore();
    if (!group_.is_main()) return;
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
    log::info(fmt::format("train: {} steps ({} per epoch{}, {} epochs) from step {} -> {}",
                          total_steps_, steps_per_epoch(),
                          c_.accumulate_steps == 1
                              ? ""
                              : fmt::format(", each of {} batches", c_.accumulate_steps),
                          c_.epochs, state_.step, paths_.dir));
    if (group_.is_main()) {
      log::info("train: parameter groups (lr = scheduled lr x lr_mult)\n" +
                param_groups_table(optimizer_.parameters(), optimizer_.param_options()));
    }
    while (state_.epoch < c_.epochs && state_.step < total_steps_) {
      while (state_.step < total_steps_ &&
             train_.position().batch < train_.batches_per_epoch()) {
        std::optional<data::Batch> batch = train_.next();
        PSAM_CHECK(batch.has_value(), "train: loader ended an epoch early");
        const bool ok = step(*batch, result);
        state_.loader = train_.position();
        progress.update(state_.step, [&] { return postfix(); });
        if (!ok) {
          progress.finish(postfix());
          return finish(result, TrainStatus::kNonFinite);
        }
        // Every rank stops, and writes mid-epoch checkpoints, at the same step. One process
        // may stop inside an accumulation group (last.pt then holds its gradients so far);
        // several finish the group first.
        const bool between = state_.accumulation.micro == 0;
        if ((between || group_.size() == 1) && group_.any(interrupted()))
          return stop(progress, result);
        if (between && group_.any(periodic_checkpoint_due())) save(paths_.last);
      }
      if (train_.position().batch < train_.batches_per_epoch()) break;  // max_steps mid-epoch
      bool early_stop = false;
      try {
        early_stop = end_epoch(result);
      } catch (const StopRequested&) {
        return stop(progress, result);
      }
      if (early_stop) {
        progress.finish(postfix());
        return finish(result, TrainStatus::kEarlyStopped);
      }
    }
    save(paths_.last);
    progress.finish(postfix());  // the final step's values, not the last drawn
    return finish(result, TrainStatus::kFinished);
  }

 private:
  ProgressOptions progress_options() const {
    ProgressOptions p = o_.progress;
    p.initial = state_.step;
    return p;
  }

  // Optimiser steps per epoch: its batches in groups of train.accumulate_steps.
  int64_t steps_per_epoch() const {
    return (train_.batches_per_epoch() + c_.accumulate_steps - 1) / c_.accumulate_steps;
  }

  bool interrupted() const {
    if (o_.stop_at_step > 0 && state_.step >= o_.stop_at_step &&
        state_.accumulation.micro == 0)
      return true;
    const int64_t batches = state_.loader.epoch * train_.batches_per_epoch() + state_.loader.batch;
    if (o_.stop_at_batch > 0 && batches >= o_.stop_at_batch) return true;
    return o_.interrupt != nullptr && o_.interrupt->load();
  }

  // A requested stop: last.pt holds everything to continue, then the run ends resumable.
  TrainResult stop(Progress& progress, TrainResult& result) {
    save(paths_.last);
    progress.finish(postfix());
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

  // One loader batch; false when the run must stop (too many non-finite steps in a row).
  bool step(const data::Batch& batch, TrainResult& result) {
    return c_.accumulate_steps == 1 ? whole_step(batch, result) : micro_step(batch, result);
  }

  // The loss of this rank's part of a batch (none when it has no samples).
  std::optional<StepLoss> batch_loss(const data::Batch& batch) {
    if (batch.index.empty()) return std::nullopt;
    PrecisionAutocast autocast(o_.precision, o_.cuda ? c10::kCUDA : c10::kCPU);
    StepLoss loss = task_.loss(batch, state_.step, generator_);
    if (loss.beta && !beta_logged_) {
      beta_logged_ = true;
      log::info(fmt::format("train: KL weight {:.3g} after the warm-up (loss.beta as set, or "
                            "the per-image ELBO weight when unset)",
                            *loss.beta));
    }
    return loss;
  }

  // One batch, one optimiser step.
  bool whole_step(const data::Batch& batch, TrainResult& result) {
    optimizer_.set_lr(scheduled_lr(c_, state_.step, total_steps_));
    optimizer_.zero_grad();
    // A rank's share of the global batch weighs its gradient and terms (1 in one process).
    const auto samples = static_cast<double>(batch.index.size());
    const double weight = batch.global_count > 0 ? samples / batch.global_count : 1.0;
    std::optional<StepLoss> loss = batch_loss(batch);
    double total = loss ? loss->total.item<double>() : 0.0;
    // Every rank skips the step when the loss is not finite on any of them.
    if (group_.any(!std::isfinite(total))) total = std::nan("");
    if (!std::isfinite(total)) return skip(result, "loss", total, batch.ids);
    if (sync_) sync_->begin(weight);
    if (loss) scaled(loss->total).backward();
    if (sync_) sync_->finish();
    if (overflowed()) return true;
    const double norm = c_.grad_clip > 0 ? clip_grad_norm(optimizer_.parameters(), c_.grad_clip)
                                         : grad_norm(optimizer_.parameters());
    if (!std::isfinite(norm)) return skip(result, "gradient", norm, batch.ids);
    optimizer_.step();
    if (scaler_) scaler_->update(/*overflow=*/false);
    term_names_ = term_names(group_, loss ? &*loss : nullptr, term_names_);
    return stepped(norm, global_terms(group_, loss ? &*loss : nullptr, weight, term_names_));
  }

  // One micro-batch of a train.accumulate_steps group: its gradient, scaled by its samples, adds
  // to the group's; the group's last (or the epoch's last batch) divides by the group's samples
  // and steps. Ranks communicate gradients only then.
  bool micro_step(const data::Batch& batch, TrainResult& result) {
    AccumulationState& a = state_.accumulation;
    optimizer_.set_lr(scheduled_lr(c_, state_.step, total_steps_));  // also after a resume
    if (a.micro == 0) optimizer_.zero_grad();
    a.ids.insert(a.ids.end(), batch.ids.begin(), batch.ids.end());
    if (!a.nonfinite) {  // after a non-finite loss the group's remaining batches are skipped
      std::optional<StepLoss> loss = batch_loss(batch);
      const double total = loss ? loss->total.item<double>() : 0.0;
      a.nonfinite = group_.any(!std::isfinite(total));
      if (!a.nonfinite) {
        const auto samples = static_cast<double>(batch.index.size());
        if (loss) scaled(loss->total * samples).backward();
        term_names_ = term_names(group_, loss ? &*loss : nullptr, term_names_);
        const double weight = samples / batch.global_count;
        for (const auto& [name, value] :
             global_terms(group_, loss ? &*loss : nullptr, weight, term_names_))
          add_term(a.sums, name, value * static_cast<double>(batch.global_count));
        a.samples += batch.global_count;
      }
    }
    ++a.micro;
    const bool last = a.micro >= c_.accumulate_steps ||
                      train_.position().batch >= train_.batches_per_epoch();
    if (!last) return true;
    const AccumulationState group = std::move(a);
    a = AccumulationState{};
    if (group.nonfinite) return skip(result, "loss", std::nan(""), group.ids);
    const double scale = 1.0 / static_cast<double>(group.samples);
    if (sync_) {
      sync_->reduce(scale);
    } else {
      at::NoGradGuard no_grad;
      for (const auto& [name, p] : optimizer_.parameters()) {
        if (p.grad().defined()) p.grad().mul_(scale);
      }
    }
    if (overflowed()) return true;
    const double norm = c_.grad_clip > 0 ? clip_grad_norm(optimizer_.parameters(), c_.grad_clip)
                                         : grad_norm(optimizer_.parameters());
    if (!std::isfinite(norm)) return skip(result, "gradient", norm, group.ids);
    optimizer_.step();
    if (scaler_) scaler_->update(/*overflow=*/false);
    Terms terms = group.sums;
    for (auto& [name, value] : terms) value *= scale;
    return stepped(norm, std::move(terms));
  }

  // The loss times the gradient scaler's scale (fp16), or the loss.
  at::Tensor scaled(const at::Tensor& loss) const {
    return scaler_ ? scaler_->scale_loss(loss) : loss;
  }

  // With a gradient scaler: unscales the gradients; on an overflow the step is dropped (the
  // scaler's business: the scale backs off; not a non-finite step) and true is returned.
  bool overflowed() {
    if (!scaler_ || scaler_->unscale(optimizer_.parameters())) return false;
    const double before = scaler_->scale();
    scaler_->update(/*overflow=*/true);
    optimizer_.zero_grad();
    log::info(fmt::format("train: step {} skipped: fp16 gradient overflow; loss scale {} -> {}",
                          state_.step, before, scaler_->scale()));
    write_line({{"kind", "overflow"}, {"epoch", state_.epoch}, {"step", state_.step},
                {"scale", scaler_->scale()}});
    return true;
  }

  // A step not taken: its gradients are dropped; false when too many came in a row.
  bool skip(TrainResult& result, const char* what, double value,
            const std::vector<std::string>& ids) {
    optimizer_.zero_grad();
    ++state_.nonfinite_in_a_row;
    ++result.skipped_steps;
    log::warn(fmt::format("train: step {} skipped: non-finite {} ({}) on samples {}",
                          state_.step, what, value, fmt::join(ids, ",")));
    // The ids are this rank's; rank 0 records its own.
    write_line({{"kind", "nonfinite"}, {"epoch", state_.epoch}, {"step", state_.step},
                {"ids", ids}});
    if (state_.nonfinite_in_a_row > c_.max_nonfinite_steps) {
      log::error(fmt::format(
          "train: {} non-finite steps in a row (train.max_nonfinite_steps = {}): stopping; "
          "the last checkpoint is kept as it was",
          state_.nonfinite_in_a_row, c_.max_nonfinite_steps));
      return false;
    }
    return true;
  }

  // After an optimiser step: the EMA, the counters and the step's log line.
  bool stepped(double norm, Terms terms) {
    state_.nonfinite_in_a_row = 0;
    update_ema();
    ++state_.step;
    last_terms_ = std::move(terms);
    task_.after_step(last_terms_);
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

  // ema <- d ema + (1 - d) p after the optimiser step numbered state_.step (0-based).
  void update_ema() {
    if (ema_.empty()) return;
    const auto t = static_cast<double>(state_.step);
    const double d =
        c_.ema_warmup ? std::min(c_.ema_decay, (1 + t) / (10 + t)) : c_.ema_decay;
    at::NoGradGuard no_grad;
    const NamedParameters& params = optimizer_.parameters();
    for (size_t i = 0; i < params.size(); ++i) ema_[i].second.lerp_(params[i].second, 1 - d);
  }

  // A latent model (it logs a KL term) whose posterior has collapsed: say so (train/collapse.h).
  static void warn_if_collapsed(const nlohmann::json& line) {
    if (!line.contains("train/kl")) return;
    std::optional<double> diversity;
    if (line.contains("val/diversity") && line["val/diversity"].is_number())
      diversity = line["val/diversity"].get<double>();
    for (const auto& w : collapse_warnings(line["train/kl"].get<double>(), diversity))
      log::warn(w);
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
    warn_if_collapsed(line);

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

  // Validation of the weights, and of their EMA (as val_ema/<name>) when there is one.
  Terms validate(int64_t epoch) {
    Terms metrics = validate_weights(epoch);
    if (ema_.empty()) return metrics;
    at::NoGradGuard no_grad;
    const NamedParameters& params = optimizer_.parameters();
    std::vector<at::Tensor> kept;
    for (size_t i = 0; i < params.size(); ++i) {
      kept.push_back(params[i].second.detach().clone());
      params[i].second.detach().copy_(ema_[i].second);
    }
    auto restore_weights = [&] {
      for (size_t i = 0; i < params.size(); ++i) params[i].second.detach().copy_(kept[i]);
    };
    Terms averaged;
    try {
      averaged = validate_weights(epoch);
    } catch (...) {
      restore_weights();
      throw;
    }
    restore_weights();
    for (auto& [name, value] : averaged) {
      const std::string rest = name.rfind("val/", 0) == 0 ? name.substr(4) : name;
      metrics.emplace_back("val_ema/" + rest, value);
    }
    return metrics;
  }

  Terms validate_weights(int64_t epoch) {
    Terms metrics;
    if (val_ != nullptr && val_->batches_per_epoch() > 0) {
      task_.train_mode(false);
      at::NoGradGuard no_grad;
      at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o_.seed ^ kValidationStream);
      Terms sums;
      int64_t batches = 0;
      val_->seek({0, 0});
      Terms names;
      while (auto batch = val_->next()) {
        if (group_.any(interrupted())) throw StopRequested{};
        std::optional<StepLoss> loss;
        if (!batch->index.empty()) loss = task_.loss(*batch, state_.step, generator);
        const double weight = static_cast<double>(batch->index.size()) / batch->global_count;
        names = term_names(group_, loss ? &*loss : nullptr, names);
        for (const auto& [name, value] : global_terms(group_, loss ? &*loss : nullptr, weight, names))
          add_term(sums, name, value);
        ++batches;
      }
      for (const auto& [name, sum] : sums) metrics.emplace_back("val/" + name, sum / batches);
      task_.train_mode(true);
    }
    if (o_.validation) {
      if (group_.any(interrupted())) throw StopRequested{};
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
    if (!group_.is_main()) return;
    for (int64_t e = epoch - c_.keep_epoch_checkpoints; e >= 1; --e) {
      const std::string path = paths_.epoch_checkpoint(e);
      if (!fs::exists(path)) break;
      fs::remove(path);
    }
  }

  // Every rank's model and optimiser are the same, so rank 0 writes; every rank's generators
  // differ, so they are gathered first (all ranks call save at the same points).
  void save(const std::string& path) {
    std::vector<at::Tensor> cpu_ranks, train_ranks;
    if (group_.size() > 1) {
      cpu_ranks = group_.allgather(at::detail::getDefaultCPUGenerator().get_state());
      train_ranks = group_.allgather(generator_.get_state());
    }
    if (!group_.is_main()) return;
    Checkpoint c;
    c.rng_cpu_ranks = cpu_ranks;
    c.rng_train_ranks = train_ranks;
    c.model = io::state_dict(task_.module());
    c.optimizer_kind = std::string(name_of(c_.optimizer));
    c.optimizer = optimizer_.state_dict();
    if (state_.accumulation.micro > 0) {
      for (const auto& [name, p] : optimizer_.parameters()) {
        if (p.grad().defined()) c.grads.insert(name, p.grad().detach().cpu());
      }
    }
    for (const auto& [name, average] : ema_) c.ema.insert(name, average.cpu());
    c.task = task_.state();
    if (scaler_) {
      c.scaler_scale = scaler_->scale();
      c.scaler_growth_tracker = scaler_->growth_tracker();
    }
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
    const std::string kind = std::string(name_of(c_.optimizer));
    PSAM_CHECK(c.optimizer_kind == kind,
               fmt::format("cannot resume {}: it was trained with {}, the config says {}",
                           paths_.last, c.optimizer_kind, kind));
    io::load_state_dict(task_.module(), c.model, "", paths_.last);
    optimizer_.load_state_dict(c.optimizer);
    task_.load_state(c.task);
    state_ = c.state;
    restore_tensors(c.grads, "gradient", [&](size_t i, const at::Tensor& t) {
      at::Tensor p = optimizer_.parameters()[i].second;
      p.mutable_grad() = t.to(p.options()).clone();
    });
    if (scaler_ && c.scaler_scale > 0) scaler_->load(c.scaler_scale, c.scaler_growth_tracker);
    if (!ema_.empty()) {
      for (size_t i = 0; i < ema_.size(); ++i)  // the restored weights, for what c.ema lacks
        ema_[i].second.copy_(optimizer_.parameters()[i].second.detach());
      restore_tensors(c.ema, "EMA", [&](size_t i, const at::Tensor& t) {
        ema_[i].second = t.to(ema_[i].second.options()).clone();
      });
      if (c.ema.size() != ema_.size()) {
        log::warn(fmt::format("resume: {} holds the EMA of {} of the {} trained parameters (was "
                              "train.ema_decay 0?); the others start from the current weights",
                              paths_.last, c.ema.size(), ema_.size()));
      }
    }
    state_.best.metric = c_.best_metric;
    restore_generators(c);
    if (c.rng_cuda.defined() && at::hasCUDA()) {
      set_generator_state(at::globalContext().defaultGenerator(at::kCUDA), c.rng_cuda);
    }
    if (group_.is_main()) truncate_metrics(paths_.metrics, state_.step);
    last_saved_step_ = state_.step;
    log::info(fmt::format("resume: {} at epoch {}, step {}", paths_.last, state_.epoch + 1,
                          state_.step));
  }

  // Applies each named tensor of a checkpoint entry to the trained parameter of that name.
  template <class Apply>
  void restore_tensors(const io::TensorDict& tensors, const char* what, Apply apply) {
    std::unordered_map<std::string, size_t> index;
    const NamedParameters& params = optimizer_.parameters();
    for (size_t i = 0; i < params.size(); ++i) index[params[i].first] = i;
    for (const auto& [name, t] : tensors) {
      const auto it = index.find(name);
      PSAM_CHECK(it != index.end(), fmt::format("cannot resume {}: it holds a {} of '{}', which "
                                                "is not a trained parameter",
                                                paths_.last, what, name));
      const at::Tensor& p = params[it->second].second;
      PSAM_CHECK(t.sizes() == p.sizes(),
                 fmt::format("cannot resume {}: its {} of '{}' has shape {}, the parameter {}",
                             paths_.last, what, name, fmt::join(t.sizes(), "x"),
                             fmt::join(p.sizes(), "x")));
      apply(it->second, t);
    }
  }

  void restore_generators(const Checkpoint& c) {
    const int64_t saved_world =
        c.rng_train_ranks.empty() ? 1 : static_cast<int64_t>(c.rng_train_ranks.size());
    if (saved_world != group_.size() && group_.is_main()) {
      log::warn(fmt::format("resume: {} was written by {} process(es), this run has {}: the "
                            "weights and optimiser continue, the data order and random draws "
                            "do not continue exactly",
                            paths_.last, saved_world, group_.size()));
    }
    const int rank = group_.rank();
    if (rank == 0 || rank >= saved_world) {
      if (rank == 0) {
        set_generator_state(at::detail::getDefaultCPUGenerator(), c.rng_cpu);
        generator_.set_state(c.rng_train);
      }
      return;
    }
    set_generator_state(at::detail::getDefaultCPUGenerator(), c.rng_cpu_ranks[rank]);
    generator_.set_state(c.rng_train_ranks[rank]);
  }

  // Rank 0's initial weights and buffers on every rank.
  void broadcast_weights() {
    at::NoGradGuard no_grad;
    for (auto& p : task_.module().parameters()) group_.broadcast(p, 0);
    for (auto& b : task_.module().buffers()) group_.broadcast(b, 0);
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
    if (!group_.is_main()) return;
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
  Optimizer optimizer_;
  std::unique_ptr<dist::Group> single_;  // the group of one process when options.group is null
  dist::Group& group_;
  at::Generator generator_;
  std::unique_ptr<dist::GradientSync> sync_;
  Terms term_names_;
  int64_t total_steps_ = 0;
  TrainState state_;
  int64_t last_saved_step_ = 0;  // state_.step when last.pt was last written (or restored)
  std::chrono::steady_clock::time_point last_saved_time_ = std::chrono::steady_clock::now();
  Terms last_terms_;
  NamedParameters ema_;  // train.ema_decay > 0: the average of each trained parameter
  std::optional<GradScaler> scaler_;  // fp16
  bool beta_logged_ = false;  // the KL weight is logged at the first step
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
