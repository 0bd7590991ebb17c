#include "psam/eval/evaluator.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>

#include "psam/geometry/dihedral.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::eval {
namespace {

using Clock = std::chrono::steady_clock;

// The cases to evaluate: the first max_cases of the indices (0 = all).
std::vector<int64_t> selected(const std::vector<int64_t>& indices, const EvalConfig& config) {
  PSAM_CHECK(!indices.empty(), fmt::format("evaluate: no samples in split '{}'", config.split));
  if (config.max_cases == 0 || config.max_cases >= static_cast<int64_t>(indices.size()))
    return indices;
  return {indices.begin(), indices.begin() + config.max_cases};
}

EvalResult begin_result(const std::string& source, const data::DatasetStore& store,
                        const std::vector<int64_t>& indices, const EvalConfig& config) {
  EvalResult r;
  r.source = source;
  r.split = config.split;
  r.split_cases = static_cast<int64_t>(indices.size());
  r.max_cases = config.max_cases;
  r.split_fingerprint = store.cases_fingerprint(indices);
  r.samples = config.samples;
  r.counts = config.scored_counts();
  r.annotators = store.info().annotators;
  r.metrics = config.metrics;
  r.prompt = config.prompt;
  r.tta = config.tta;
  r.bootstrap = config.bootstrap();
  r.seed = config.seed;
  return r;
}

// Means and counts over the cases where each metric is defined, and the bootstrap interval of
// each mean over those cases.
std::vector<MetricStat> stats_of(const std::vector<CaseMetrics>& metrics, const EvalResult& r) {
  std::vector<MetricStat> stats;
  const MetricSummary summary = summarize(metrics, r.metrics);
  for (size_t k = 0; k < summary.names.size(); ++k) {
    MetricStat s;
    s.name = summary.names[k];
    s.mean = summary.mean[k];
    s.count = summary.count[k];
    std::vector<double> defined;
    for (const auto& m : metrics) {
      const double v = m.scalars()[k].second;
      if (!std::isnan(v)) defined.push_back(v);
    }
    s.ci = defined.empty() ? Interval{NAN, NAN} : bootstrap_mean_interval(defined, r.bootstrap);
    stats.push_back(s);
  }
  return stats;
}

void finish(EvalResult& r, Clock::time_point start) {
  std::vector<CaseMetrics> metrics;
  for (const auto& c : r.cases) metrics.push_back(c.metrics);
  r.stats = stats_of(metrics, r);
  for (size_t i = 0; i + 1 < r.counts.size(); ++i) {
    std::vector<CaseMetrics> prefix;
    for (const auto& c : r.cases) prefix.push_back(c.prefixes[i]);
    r.count_stats.push_back(stats_of(prefix, r));
  }
  r.count_stats.push_back(r.stats);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log::info(fmt::format("evaluated {} ({}): {} case(s), GED {:.4f}, {:.1f} s", r.source, r.split,
                        r.cases.size(), r.stat("ged").mean, r.seconds));
}

// The case's metrics for every n of r.counts: the prefixes below N, then all N samples.
void score_case(CaseResult& c, const at::Tensor& samples, const at::Tensor& annotators,
                const at::Tensor& probs, const EvalResult& r) {
  for (size_t i = 0; i + 1 < r.counts.size(); ++i) {
    const int64_t n = r.counts[i];
    c.prefixes.push_back(evaluate_case(samples.slice(0, 0, n), annotators,
                                       probs.defined() ? probs.slice(0, 0, n) : probs, r.metrics));
  }
  c.metrics = evaluate_case(samples, annotators, probs, r.metrics);
}

// A generator for the case's latent draws on `device`. CPU, and the meta device (which draws
// nothing): a fresh CPU one; other devices share their default generator, so it is reseeded
// (under its lock) for each case.
at::Generator case_generator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu() || device.is_meta()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Generator g = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(seed);
  return g;
}

// Puts a module in eval mode and restores its mode on scope exit.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& m) : module_(m), was_training_(m.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

// The cases this rank evaluates: all of them in one process; with several ranks, rank 0 takes
// the figure cases and the others are dealt out in turn. `cases` is sorted.
std::vector<int64_t> share_of(const std::vector<int64_t>& cases, int64_t figure_cases,
                              const dist::Group* group) {
  if (group == nullptr || group->size() == 1) return cases;
  std::vector<int64_t> mine;
  const auto figures = std::min<int64_t>(figure_cases, static_cast<int64_t>(cases.size()));
  for (int64_t k = 0; k < static_cast<int64_t>(cases.size()); ++k) {
    const int owner = k < figures ? 0 : static_cast<int>((k - figures) % group->size());
    if (owner == group->rank()) mine.push_back(cases[k]);
  }
  return mine;
}

// Every rank's case results on every rank, in the order of `cases`: each rank writes its rows
// of one table (per sample count: the scalars, whether NCC per annotator is known, then its K
// values) and a sum across ranks fills it in.
void gather_cases(EvalResult& r, const std::vector<int64_t>& cases, const data::DatasetStore& store,
                  dist::Group& group) {
  const auto n_scalars = static_cast<int64_t>(CaseMetrics{}.scalars().size());
  const int64_t k = store.info().annotators, width = n_scalars + 1 + k;
  const auto counts = static_cast<int64_t>(r.counts.size());
  at::Tensor table = at::zeros({static_cast<int64_t>(cases.size()), width * counts}, at::kDouble);
  for (const auto& c : r.cases) {
    const int64_t row = std::lower_bound(cases.begin(), cases.end(), c.index) - cases.begin();
    for (int64_t n = 0; n < counts; ++n) {
      const CaseMetrics& m = n + 1 < counts ? c.prefixes[n] : c.metrics;
      const int64_t at = n * width;
      const auto scalars = m.scalars();
      for (size_t j = 0; j < scalars.size(); ++j)
        table[row][at + static_cast<int64_t>(j)] = scalars[j].second;
      if (!m.ncc_per_annotator.empty()) {
        table[row][at + n_scalars] = 1;
        for (int64_t a = 0; a < k; ++a) table[row][at + n_scalars + 1 + a] = m.ncc_per_annotator[a];
      }
    }
  }
  group.allreduce_sum(table);
  r.cases.clear();
  const auto t = table.accessor<double, 2>();
  for (size_t row = 0; row < cases.size(); ++row) {
    CaseResult c;
    c.index = cases[row];
    c.id = store.meta()[c.index].id;
    for (int64_t n = 0; n < counts; ++n) {
      CaseMetrics m;
      const int64_t at = n * width;
      // (the order of CaseMetrics::scalars)
      double* fields[] = {&m.ged,
                          &m.hm_iou,
                          &m.ncc,
                          &m.diversity,
                          &m.annotator_diversity,
                          &m.dsc,
                          &m.iou,
                          &m.dsc_annotator_mean,
                          &m.iou_annotator_mean};
      PSAM_CHECK(static_cast<int64_t>(std::size(fields)) == n_scalars,
                 "evaluator: one field per CaseMetrics scalar");
      for (int64_t j = 0; j < n_scalars; ++j) *fields[j] = t[row][at + j];
      if (t[row][at + n_scalars] > 0) {
        for (int64_t a = 0; a < k; ++a)
          m.ncc_per_annotator.push_back(t[row][at + n_scalars + 1 + a]);
      }
      if (n + 1 < counts) {
        c.prefixes.push_back(std::move(m));
      } else {
        c.metrics = std::move(m);
      }
    }
    r.cases.push_back(std::move(c));
  }
}

CaseFigure make_figure(const data::Batch& batch, const at::Tensor& annotators,
                       const at::Tensor& samples, const at::Tensor& probs) {
  CaseFigure f;
  f.index = batch.index[0];
  f.id = batch.ids[0];
  f.image = batch.raw_image[0].to(torch::kFloat).clone();
  f.annotators = annotators.clone();
  f.samples = samples;
  f.mean = probs.to(torch::kFloat).mean(0);
  const at::Tensor p = f.mean.clamp(1e-7, 1 - 1e-7);
  f.uncertainty = -(p * p.log() + (1 - p) * (1 - p).log());
  return f;
}

// The quality predictions of every case, pooled by name in the order the method gives them.
class QualityPool {
 public:
  void add(const std::vector<models::QualityPrediction>& case_predictions) {
    for (const auto& q : case_predictions) {
      auto it = std::find_if(pooled_.begin(), pooled_.end(),
                             [&](const models::QualityPrediction& p) { return p.name == q.name; });
      if (it == pooled_.end()) it = pooled_.insert(pooled_.end(), {q.name, q.is_iou, {}, {}});
      it->predicted.insert(it->predicted.end(), q.predicted.begin(), q.predicted.end());
      it->actual.insert(it->actual.end(), q.actual.begin(), q.actual.end());
    }
  }
  std::vector<QualityStat> stats(const dist::Group* group) const {
    if (pooled_.empty()) return {};
    if (group != nullptr && group->size() > 1) {
      log::warn(
          "evaluate: the method's quality predictions are scored in one process only; "
          "left out of this multi-process evaluation");
      return {};
    }
    std::vector<QualityStat> out;
    for (const auto& p : pooled_) {
      QualityStat s{p.name, p.is_iou, ranking_stats(p.predicted, p.actual)};
      if (!p.is_iou) s.stats.auroc = NAN;
      out.push_back(s);
    }
    return out;
  }

 private:
  std::vector<models::QualityPrediction> pooled_;
};

}  // namespace

uint64_t case_seed(int64_t seed, int64_t index) {
  // splitmix64 of (seed, index): neighbouring indices get unrelated streams.
  uint64_t z =
      static_cast<uint64_t>(seed) + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(index) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const MetricStat& EvalResult::stat(const std::string& name) const {
  std::string known;
  for (const auto& s : stats) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  fail(fmt::format("evaluation result: no metric '{}' (has: {})", name, known));
}

EvalResult evaluate(models::Model& model, const data::DatasetStore& store,
                    const std::vector<int64_t>& indices, const EvalConfig& config,
                    dist::Group* group) {
  config.validate();
  const auto start = Clock::now();
  const auto& info = store.info();
  PSAM_CHECK(
      config.prompt != data::PromptSource::kAnnotator || config.prompt_annotator < info.annotators,
      fmt::format("eval.prompt_annotator {} is not in [0, {})", config.prompt_annotator,
                  info.annotators));
  EvalResult r = begin_result("model", store, indices, config);
  r.deterministic = model.deterministic();

  data::LoaderOptions lo = config.preprocessing;
  model.prepare_loader(lo, /*training=*/false);
  lo.batch_size = 1;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.box_jitter = 0;
  lo.prompt = config.prompt;
  // The annotator masks come from the store directly; the loader's one mask is only the prompt
  // annotator's (kAnnotator), so it never needs all K.
  lo.annotators = data::AnnotatorMode::kFixed;
  lo.annotator = config.prompt == data::PromptSource::kAnnotator ? config.prompt_annotator : 0;
  lo.raw_image = lo.raw_image || config.figure_cases > 0;
  lo.resize_masks = false;
  // The store outlives this call; the loader only borrows it.
  std::shared_ptr<const data::DatasetStore> borrowed(&store, [](const data::DatasetStore*) {});
  // The loader visits its samples in store order; the results come in that order.
  std::vector<int64_t> cases = selected(indices, config);
  std::sort(cases.begin(), cases.end());
  const std::vector<int64_t> mine = share_of(cases, config.figure_cases, group);
  data::Loader loader(borrowed, mine, lo);
  // TTA: one loader per further view, stepped with the first; their batches show the same case.
  const std::vector<geometry::Dihedral> views = geometry::tta_views(config.tta);
  std::vector<std::unique_ptr<data::Loader>> view_loaders;
  for (size_t v = 1; v < views.size(); ++v) {
    data::LoaderOptions view_options = lo;
    view_options.view = views[v];
    view_loaders.push_back(std::make_unique<data::Loader>(borrowed, mine, view_options));
  }

  const torch::Device device = model.device();
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model.module());
  QualityPool quality;
  // The case's N samples' logits [N,H,W] on the host, drawn from `batch` in one stream.
  auto draw = [&](const data::Batch& batch, at::Generator generator) {
    // One stream of draws per case, taken in chunks up to each scored n: the first n samples
    // are then exactly those of an evaluation with N = n for the smallest n (a draw of n samples
    // at once is not a prefix of a draw of more: CPU randn fills in blocks).
    std::vector<at::Tensor> parts;
    int64_t drawn = 0;
    for (const int64_t n : r.counts) {
      const auto out = model.sample(batch, n - drawn, generator);
      const at::Tensor part = to_host(out.logits).to(torch::kFloat);
      PSAM_CHECK(part.dim() == 3 && part.size(0) == n - drawn && part.size(1) == info.height &&
                     part.size(2) == info.width,
                 fmt::format("evaluate: {} returned samples of shape {}, expected [{},{},{}]",
                             model.kind(), fmt::streamed(part.sizes()), n - drawn, info.height,
                             info.width));
      parts.push_back(part);
      drawn = n;
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  };
  while (auto batch = loader.next()) {
    const int64_t index = batch->index[0];
    const at::Tensor annotators = store.masks()[index];
    std::vector<at::Tensor> logits;  // one per view
    {
      models::Model::CaseScope scope(model);  // the chunks and quality() share one encoding
      logits.push_back(draw(*batch, case_generator(device, case_seed(config.seed, index))));
      quality.add(model.quality(*batch, annotators));
    }
    // Each further view from the same latent stream as the image's own.
    for (auto& view_loader : view_loaders) {
      const auto view_batch = view_loader->next();
      PSAM_CHECK(view_batch && view_batch->index[0] == index,
                 "evaluate: the test-time augmentation views fell out of step");
      models::Model::CaseScope scope(model);
      logits.push_back(draw(*view_batch, case_generator(device, case_seed(config.seed, index))));
    }
    at::Tensor samples, probs;
    if (views.size() == 1) {
      samples = (logits[0] > 0).to(torch::kUInt8);
      probs = logits[0].sigmoid();
    } else {
      probs = geometry::mean_probability_over_views(views, logits);
      samples = (probs > 0.5).to(torch::kUInt8);
    }

    CaseResult c;
    c.index = index;
    c.id = batch->ids[0];
    score_case(c, samples, annotators, probs, r);
    r.cases.push_back(std::move(c));
    if (static_cast<int64_t>(r.figures.size()) < config.figure_cases)
      r.figures.push_back(make_figure(*batch, annotators, samples, probs));
  }
  if (group != nullptr && group->size() > 1) gather_cases(r, cases, store, *group);
  r.quality = quality.stats(group);
  finish(r, start);
  return r;
}

EvalResult evaluate_oracle(const data::DatasetStore& store, const std::vector<int64_t>& indices,
                           const EvalConfig& config) {
  config.validate();
  PSAM_CHECK(store.has_oracle(),
             fmt::format("{}: no oracle_masks.npy (only synthetic stores have oracle draws)",
                         store.dir()));
  const auto start = Clock::now();
  EvalResult r = begin_result("oracle", store, indices, config);
  r.samples = std::min(config.samples, store.oracle_masks().size(1));
  // The counts the draws allow, and all of them.
  r.counts.erase(
      std::remove_if(r.counts.begin(), r.counts.end(), [&](int64_t n) { return n >= r.samples; }),
      r.counts.end());
  r.counts.push_back(r.samples);
  for (int64_t index : selected(indices, config)) {
    CaseResult c;
    c.index = index;
    c.id = store.meta()[index].id;
    score_case(c, store.oracle_masks()[index].slice(0, 0, r.samples), store.masks()[index],
               at::Tensor(), r);
    r.cases.push_back(std::move(c));
  }
  finish(r, start);
  return r;
}

}  // namespace psam::eval
