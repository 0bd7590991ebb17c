// Metrics that compare a set of N predicted segmentation samples with the masks of M annotators
// (one image): GED, HM-IoU, NCC, sample diversity, and DSC / IoU of the combined prediction.
// Definitions and conventions follow PHiSeg and MoSE exactly (docs/metrics.md); everything is
// computed in float64. Masks are bool or uint8 tensors holding only 0 and 1, on any device.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "psam/util/names.h"

namespace psam::eval {

// How IoU(A,B), and so the distance d(A,B) = 1 - IoU(A,B), treats pairs with empty masks.
enum class IouConvention {
  // |A∩B| / |A∪B|; both empty -> 1 (d = 0), exactly one empty -> 0 (d = 1). PHiSeg; the default.
  kPhiseg,
  // (|A∩B| + 1e-8) / (|A∪B| + 1e-8) with no special case: both empty -> 1, one empty -> ~0. MoSE.
  kMose,
  // |A∩B| / |A∪B|; both empty -> 0 (d = 1), as codes that turn 0/0 = NaN into 0 compute it.
  // Then d(A,A) = 1 for an empty A, so d is not a metric: use only to compare with such codes.
  kEmptyZero,
};

constexpr double kMoseIouEpsilon = 1e-8;  // MoSE's smoothing of IoU
constexpr double kNccEpsilon = 1e-8;      // PHiSeg's epsilon inside the log of the cross-entropy

inline constexpr NameTable<IouConvention, 3> kIouConventionNames = {{
    {IouConvention::kPhiseg, "phiseg"},
    {IouConvention::kMose, "mose"},
    {IouConvention::kEmptyZero, "empty-zero"},
}};
constexpr const auto& enum_names(IouConvention) { return kIouConventionNames; }
std::string to_string(IouConvention convention);  // "phiseg" | "mose" | "empty-zero"
// psam::Error naming the accepted values on anything else.
IouConvention iou_convention_from_string(const std::string& name);

// 1 - IoU of every pair (a_i, b_j): a [A,H,W], b [B,H,W] masks -> [A,B] float64. All
// intersections come from one matrix product of the flattened masks.
at::Tensor iou_distance_matrix(const at::Tensor& a, const at::Tensor& b, IouConvention convention);

// d between samples S [N,H,W] and annotators Y [M,H,W], every ordered pair, float64.
struct PairwiseDistances {
  at::Tensor ss;  // [N,N] d(s_i, s_k)
  at::Tensor sy;  // [N,M] d(s_i, y_j)
  at::Tensor yy;  // [M,M] d(y_j, y_l)
};
PairwiseDistances pairwise_distances(const at::Tensor& samples, const at::Tensor& annotators,
                                     IouConvention convention);

// Squared generalised energy distance (no square root, as PHiSeg and MoSE report it):
// 2 E[d(S,Y)] - E[d(S,S')] - E[d(Y,Y')], means over all ordered pairs, diagonals included.
double generalized_energy_distance(const PairwiseDistances& d);
// E[d(S,S')] over all ordered pairs of samples, diagonal included (the GED's sample term).
double sample_diversity(const PairwiseDistances& d);
// 1/M^2 sum_j sum_l d(y_j, y_l): the same for the annotators.
double annotator_diversity(const PairwiseDistances& d);

// Hungarian-matched IoU (MoSE): the N x M cost dist_sy (d of the samples to the annotators) is
// tiled N/M times to N x N and solved exactly; returns the mean of 1 - cost over the optimal
// matching, so each annotator receives N/M samples. For an M that does not divide N, the same
// matching of L = lcm(N, M) copies (each sample L/N times, each annotator L/M times): the optimal
// transport of mass 1/N per sample to 1/M per annotator, which equals MoSE's value where M
// divides N (docs/metrics.md). O(L^3); psam::Error when L > kMaxMatchedCopies.
inline constexpr int64_t kMaxMatchedCopies = 2048;
double hungarian_matched_iou(const at::Tensor& dist_sy);

// The Flow-SSN style variant: each annotator matched to a different sample (min(N, M) pairs,
// the other samples unmatched), mean IoU over the optimal matching. It rewards drawing many
// samples, since only the best M of N count, so its values are not comparable with
// hungarian_matched_iou's (which every sample enters) and rise with N for the same model.
double best_of_n_matched_iou(const at::Tensor& dist_sy);

// Which HM-IoU a table reports.
enum class HmIouMatching {
  kTransport,  // hungarian_matched_iou: MoSE's definition, generalised to any N and M
  kBestOfN,    // best_of_n_matched_iou (Flow-SSN)
};
inline constexpr NameTable<HmIouMatching, 2> kHmIouMatchingNames = {{
    {HmIouMatching::kTransport, "transport"},
    {HmIouMatching::kBestOfN, "best_of_n"},
}};
constexpr const auto& enum_names(HmIouMatching) { return kHmIouMatchingNames; }

// PHiSeg's variance NCC: Pearson correlation (population statistics) of the expected
// cross-entropy map E_ss with each annotator's E_sy_j, then the mean over annotators.
// probs [N,H,W] foreground probabilities in [0,1]; annotators [M,H,W]. A constant map
// (zero variance) makes that NCC_j, and so the mean, NaN: the correlation is undefined.
struct NccResult {
  double value = 0.0;
  std::vector<double> per_annotator;  // NCC_j, j = 0..M-1
};
NccResult variance_ncc(const at::Tensor& probs, const at::Tensor& annotators);

// The combined prediction of N samples: a pixel is foreground when more than half of the
// samples mark it (mean > 0.5, ties are background), the same strict rule as majority_vote, so
// one deterministic mask (N = 1) is returned unchanged. [N,H,W] -> [H,W] bool.
at::Tensor mean_prediction(const at::Tensor& samples);
// Strict majority of annotators: count > M/2 (a tie is background). [M,H,W] -> [H,W] bool.
at::Tensor majority_vote(const at::Tensor& annotators);

// DSC = 2|A∩B| / (|A|+|B|) and IoU = |A∩B| / |A∪B| of one prediction [H,W] against the majority
// vote of annotators [M,H,W], and the mean over annotators of the per-annotator scores. Two
// empty masks agree perfectly: DSC = IoU = 1.
struct OverlapScores {
  double dsc = 0.0;
  double iou = 0.0;
  double dsc_annotator_mean = 0.0;
  double iou_annotator_mean = 0.0;
};
OverlapScores overlap_scores(const at::Tensor& prediction, const at::Tensor& annotators);

struct MetricOptions {
  IouConvention ged_convention = IouConvention::kPhiseg;  // GED and diversity
  IouConvention hm_iou_convention = IouConvention::kMose;
  HmIouMatching hm_iou_matching = HmIouMatching::kTransport;
};

// All metrics of one case. A metric that cannot be computed is NaN: ncc without probabilities
// or with a constant map, hm_iou when lcm(N, M) > kMaxMatchedCopies.
struct CaseMetrics {
  double ged = 0.0;
  double hm_iou = 0.0;
  double ncc = 0.0;
  double diversity = 0.0;
  // E[d(Y,Y')] over the annotator pairs (GED's annotator term, its convention): how much the
  // raters themselves disagree, the scale that `diversity` should approach.
  double annotator_diversity = 0.0;
  double dsc = 0.0;
  double iou = 0.0;
  double dsc_annotator_mean = 0.0;
  double iou_annotator_mean = 0.0;
  std::vector<double> ncc_per_annotator;  // empty without probabilities

  // (name, value) of every scalar, in a fixed order; the names are the report/JSON keys.
  std::vector<std::pair<std::string, double>> scalars() const;
};

// samples [N,H,W], annotators [M,H,W], probs [N,H,W] or an undefined tensor (then ncc is NaN).
// psam::Error naming the argument on a wrong rank, shape, dtype or non-binary value.
CaseMetrics evaluate_case(const at::Tensor& samples, const at::Tensor& annotators,
                          const at::Tensor& probs, const MetricOptions& options = {});

// Mean of each scalar over the cases where it is defined (not NaN), with that count; a metric
// defined in no case has mean NaN and count 0.
struct MetricSummary {
  std::vector<std::string> names;  // CaseMetrics::scalars() order
  std::vector<double> mean;
  std::vector<int64_t> count;
  int64_t num_cases = 0;
  MetricOptions options;
};
MetricSummary summarize(const std::vector<CaseMetrics>& cases, const MetricOptions& options);

}  // namespace psam::eval
