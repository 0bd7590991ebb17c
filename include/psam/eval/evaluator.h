// Evaluation of any registered method (psam/models/model.h) on a set of store samples: per case
// one box prompt from the annotators, N samples drawn in one call of the method, and psam's
// ambiguity metrics (psam/eval/metrics.h) against the K annotators; then the means over cases
// with percentile-bootstrap 95% intervals. The same code scores the store's oracle draws
// (oracle_masks.npy of a synthetic store) as if they were samples: the best achievable numbers
// on that benchmark.
//
// Per case:
//   - image and box: the data loader's preprocessing (psam/data/loader/loader.h) with
//     EvalConfig::preprocessing, which must match the training run's data options, and the
//     frame the method asks for (Model::prepare_loader);
//   - samples: model.sample(case, N, generator) at the store's H x W, with a CPU generator
//     seeded by case_seed(config.seed, store index), so a case's samples do not depend on which
//     other cases are evaluated or in what order; binarised at logit > 0; NCC uses their
//     sigmoid probabilities;
//   - a deterministic method gives N equal masks, which leaves GED, diversity (0), DSC and IoU
//     exactly as for the single mask and makes HM-IoU defined (then the mean IoU of the mask
//     with the annotators).
// A method with an embedding cache attached (Model::set_embedding_cache) uses it here too.
// A method that predicts the quality of its own mask (Model::quality, e.g. USAM) is scored on
// it as well: Spearman, Pearson, MAE and failure AUROC (ranking.h) per prediction, pooled over
// every case and ground truth (one process only: with several ranks they are left out).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "psam/data/loader/boxes.h"
#include "psam/data/store/store.h"
#include "psam/dist/group.h"
#include "psam/eval/bootstrap.h"
#include "psam/eval/eval_config.h"
#include "psam/eval/metrics.h"
#include "psam/eval/ranking.h"
#include "psam/models/model.h"

namespace psam::eval {

// The seed of the sampling generator for the case at store index `index`.
uint64_t case_seed(int64_t seed, int64_t index);

struct CaseResult {
  int64_t index = 0;  // store index
  std::string id;     // sample id
  CaseMetrics metrics;
  // The metrics of the first n samples for each n of EvalResult::counts below N (in order).
  std::vector<CaseMetrics> prefixes;
};

// Mean over cases with its bootstrap interval; mean NaN and count 0 when defined in no case.
struct MetricStat {
  std::string name;  // CaseMetrics::scalars() name
  double mean = 0.0;
  Interval ci;
  int64_t count = 0;  // cases where the metric is defined
};

// What samples.png shows for one case; all on the CPU at store size H x W.
struct CaseFigure {
  int64_t index = 0;
  std::string id;
  at::Tensor image;        // float [3,H,W] in [0,1] (the loader's intensity mapping)
  at::Tensor annotators;   // uint8 [K,H,W]
  at::Tensor samples;      // uint8 [N,H,W]
  at::Tensor mean;         // float [H,W]: mean foreground probability of the samples
  at::Tensor uncertainty;  // float [H,W]: binary entropy (nats) of `mean`, in [0, ln 2]
};

// How well one of the method's quality predictions (models::QualityPrediction) tracks the real
// value over every (case, ground truth) of the evaluation; auroc NaN unless it predicts an IoU.
struct QualityStat {
  std::string name;
  bool is_iou = false;
  RankingStats stats;
};

struct EvalResult {
  std::string source;  // "model" or "oracle"
  bool deterministic = false;
  std::string split;
  int64_t split_cases = 0;  // cases in the split; more than cases.size() for a partial evaluation
  int64_t max_cases = 0;    // EvalConfig::max_cases (0: every case)
  std::string split_fingerprint;  // of the split's case ids (DatasetStore::cases_fingerprint)
  bool partial() const { return static_cast<int64_t>(cases.size()) < split_cases; }
  int64_t samples = 0;  // N per case as scored (oracle: the draws used)
  int64_t annotators = 0;
  MetricOptions metrics;
  data::PromptSource prompt = data::PromptSource::kUnion;
  geometry::TtaMode tta = geometry::TtaMode::kNone;  // EvalConfig::tta
  BootstrapOptions bootstrap;
  int64_t seed = 0;
  std::vector<CaseResult> cases;
  std::vector<MetricStat> stats;  // CaseMetrics::scalars() order
  // Every sample count n scored (EvalConfig::scored_counts), ascending, the last being `samples`,
  // and the stats of each over the first n samples; the last entry equals `stats`.
  std::vector<int64_t> counts;
  std::vector<std::vector<MetricStat>> count_stats;
  std::vector<CaseFigure> figures;
  std::vector<QualityStat> quality;  // empty for a method that predicts none
  double seconds = 0.0;  // wall time of the evaluation

  // The stat called `name`; psam::Error naming the known ones otherwise.
  const MetricStat& stat(const std::string& name) const;
};

// Evaluates `model` (put in eval mode for the call, its mode restored after; no autograd) on
// the store samples `indices` (e.g. store.split_indices(config.split)). Runs on the model's
// device. With a group of several ranks (every rank calls it alike) the cases are shared out
// (rank 0 takes the figure cases) and the results gathered: every rank returns the result one
// process would, figures on rank 0 only.
EvalResult evaluate(models::Model& model, const data::DatasetStore& store,
                    const std::vector<int64_t>& indices, const EvalConfig& config,
                    dist::Group* group = nullptr);

// Scores the store's oracle draws as samples: the first min(config.samples, M) of the M draws
// (probabilities are not known, so NCC is NaN). psam::Error if the store has no oracle_masks.npy.
EvalResult evaluate_oracle(const data::DatasetStore& store, const std::vector<int64_t>& indices,
                           const EvalConfig& config);

}  // namespace psam::eval
