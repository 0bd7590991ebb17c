#include "psam/eval/metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "psam/eval/assignment.h"
#include "psam/util/error.h"

namespace psam::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Rank-3 binary mask stack [K,H,W], K >= 1; `what` names the argument in errors.
void check_mask_stack(const at::Tensor& masks, const char* what) {
  PSAM_CHECK(masks.defined(), fmt::format("{}: no tensor given", what));
  PSAM_CHECK(masks.dim() == 3, fmt::format("{}: expected a [K,H,W] mask stack, got shape {}", what,
                                           c10::str(masks.sizes())));
  PSAM_CHECK(masks.size(0) >= 1 && masks.size(1) >= 1 && masks.size(2) >= 1,
             fmt::format("{}: expected a non-empty [K,H,W] stack, got shape {}", what,
                         c10::str(masks.sizes())));
  const auto dtype = masks.scalar_type();
  PSAM_CHECK(dtype == torch::kBool || dtype == torch::kUInt8,
             fmt::format("{}: expected bool or uint8 masks, got {}", what, c10::toString(dtype)));
  if (dtype == torch::kUInt8) {
    PSAM_CHECK(masks.max().item<uint8_t>() <= 1,
               fmt::format("{}: mask values must be 0 or 1, found {}", what,
                           static_cast<int>(masks.max().item<uint8_t>())));
  }
}

void check_same_size(const at::Tensor& a, const char* a_name, const at::Tensor& b,
                     const char* b_name) {
  PSAM_CHECK(a.size(-2) == b.size(-2) && a.size(-1) == b.size(-1),
             fmt::format("{} and {} differ in size: {} vs {} (expected the same H x W)", a_name,
                         b_name, c10::str(a.sizes()), c10::str(b.sizes())));
}

// [K,H,W] masks -> [K, H*W] float64 0/1 rows (exact counts up to 2^53 pixels).
at::Tensor flatten_masks(const at::Tensor& masks) {
  return masks.reshape({masks.size(0), -1}).to(torch::kDouble);
}

// IoU from intersection and union pixel counts (float64 tensors of equal shape).
at::Tensor iou_from_counts(const at::Tensor& inter, const at::Tensor& uni,
                           IouConvention convention) {
  switch (convention) {
    case IouConvention::kPhiseg:
      return torch::where(uni == 0, torch::ones_like(inter), inter / uni);
    case IouConvention::kMose:
      return (inter + kMoseIouEpsilon) / (uni + kMoseIouEpsilon);
    case IouConvention::kEmptyZero:
      return torch::where(uni == 0, torch::zeros_like(inter), inter / uni);
  }
  fail("iou_from_counts: unknown IoU convention");
}

// 1 - IoU of every pair of rows of flattened masks a [A,P] and b [B,P].
at::Tensor distance_from_flat(const at::Tensor& a, const at::Tensor& b, IouConvention convention) {
  const at::Tensor inter = a.matmul(b.t());
  const at::Tensor uni = a.sum(1).unsqueeze(1) + b.sum(1).unsqueeze(0) - inter;
  return 1.0 - iou_from_counts(inter, uni, convention);
}

double mean_of(const at::Tensor& t) { return t.mean().item<double>(); }

}  // namespace

std::string to_string(IouConvention convention) {
  switch (convention) {
    case IouConvention::kPhiseg:
      return "phiseg";
    case IouConvention::kMose:
      return "mose";
    case IouConvention::kEmptyZero:
      return "empty-zero";
  }
  fail("to_string: unknown IoU convention");
}

IouConvention iou_convention_from_string(const std::string& name) {
  for (auto c : {IouConvention::kPhiseg, IouConvention::kMose, IouConvention::kEmptyZero}) {
    if (to_string(c) == name) return c;
  }
  fail(fmt::format("unknown IoU convention '{}': expected phiseg, mose or empty-zero", name));
}

at::Tensor iou_distance_matrix(const at::Tensor& a, const at::Tensor& b, IouConvention convention) {
  check_mask_stack(a, "iou_distance_matrix: a");
  check_mask_stack(b, "iou_distance_matrix: b");
  check_same_size(a, "a", b, "b");
  return distance_from_flat(flatten_masks(a), flatten_masks(b), convention);
}

PairwiseDistances pairwise_distances(const at::Tensor& samples, const at::Tensor& annotators,
                                     IouConvention convention) {
  check_mask_stack(samples, "samples");
  check_mask_stack(annotators, "annotators");
  check_same_size(samples, "samples", annotators, "annotators");
  const int64_t n = samples.size(0);
  // Samples and annotators stacked: one (N+M) x (N+M) product gives every intersection.
  const at::Tensor all = torch::cat({flatten_masks(samples), flatten_masks(annotators)}, 0);
  const at::Tensor d = distance_from_flat(all, all, convention);
  return {d.slice(0, 0, n).slice(1, 0, n), d.slice(0, 0, n).slice(1, n), d.slice(0, n).slice(1, n)};
}

double generalized_energy_distance(const PairwiseDistances& d) {
  return 2.0 * mean_of(d.sy) - mean_of(d.ss) - mean_of(d.yy);
}

double sample_diversity(const PairwiseDistances& d) { return mean_of(d.ss); }

double hungarian_matched_iou(const at::Tensor& dist_sy) {
  PSAM_CHECK(dist_sy.dim() == 2 && dist_sy.size(0) >= 1 && dist_sy.size(1) >= 1,
             fmt::format("hungarian_matched_iou: expected an [N,M] distance matrix, got shape {}",
                         c10::str(dist_sy.sizes())));
  const int64_t n = dist_sy.size(0);
  const int64_t m = dist_sy.size(1);
  PSAM_CHECK(n % m == 0, fmt::format("HM-IoU needs the number of samples N to be a multiple of "
                                     "the number of annotators M, got N={} M={}",
                                     n, m));
  // Columns y_1..y_M repeated N/M times: each annotator can take N/M samples.
  const at::Tensor cost = dist_sy.to(torch::kCPU, torch::kDouble).repeat({1, n / m});
  const std::vector<int64_t> column = linear_assignment(cost);
  const auto c = cost.accessor<double, 2>();
  double matched_iou = 0.0;
  for (int64_t i = 0; i < n; ++i) matched_iou += 1.0 - c[i][column[i]];
  return matched_iou / static_cast<double>(n);
}

NccResult variance_ncc(const at::Tensor& probs, const at::Tensor& annotators) {
  check_mask_stack(annotators, "annotators");
  PSAM_CHECK(
      probs.defined() && probs.dim() == 3 && probs.is_floating_point(),
      fmt::format("probs: expected a floating [N,H,W] tensor, got {}",
                  probs.defined() ? c10::str(probs.sizes(), " ", c10::toString(probs.scalar_type()))
                                  : std::string("none")));
  check_same_size(probs, "probs", annotators, "annotators");
  const int64_t n = probs.size(0);
  const int64_t m = annotators.size(0);
  PSAM_CHECK(n >= 1, "probs: expected at least one sample");
  // float64 before anything else, so 1 - p is exact to float64 as in the reference.
  const at::Tensor p = probs.reshape({n, -1}).to(torch::kDouble);
  PSAM_CHECK(((p >= 0) & (p <= 1)).all().item<bool>(),
             "probs: expected probabilities in [0,1] (found NaN or a value outside)");
  const at::Tensor y = flatten_masks(annotators);

  // With L_c(x) = mean_i ln(q_i,c(x) + eps), the mean cross-entropy of any two-class target t
  // against the samples is -(t_0 L_0 + t_1 L_1): both maps share L_0 and L_1.
  const at::Tensor q1 = p;
  const at::Tensor q0 = 1.0 - p;
  const at::Tensor log0 = torch::log(q0 + kNccEpsilon).mean(0);
  const at::Tensor log1 = torch::log(q1 + kNccEpsilon).mean(0);
  const at::Tensor e_ss = -(q0.mean(0) * log0 + q1.mean(0) * log1);  // [P]
  const at::Tensor e_sy = -((1.0 - y) * log0 + y * log1);            // [M,P]

  // Pearson correlation with population statistics (divide by P). Constant maps have no
  // correlation: flagged explicitly, since rounding in the mean would otherwise leave a tiny,
  // meaningless nonzero deviation instead of 0/0.
  const auto standardize = [](const at::Tensor& e) {
    const at::Tensor centered = e - e.mean(-1, /*keepdim=*/true);
    return centered / centered.pow(2).mean(-1, /*keepdim=*/true).sqrt();
  };
  const bool ss_constant = (e_ss.max() == e_ss.min()).item<bool>();
  const at::Tensor sy_constant = (e_sy.amax(1) == e_sy.amin(1)).cpu();
  const at::Tensor ncc_j =
      (standardize(e_ss).unsqueeze(0) * standardize(e_sy)).mean(1).cpu().contiguous();

  NccResult result;
  result.per_annotator.resize(m);
  double sum = 0.0;
  for (int64_t j = 0; j < m; ++j) {
    const bool undefined = ss_constant || sy_constant[j].item<bool>();
    result.per_annotator[j] = undefined ? kNaN : ncc_j[j].item<double>();
    sum += result.per_annotator[j];
  }
  result.value = sum / static_cast<double>(m);
  return result;
}

at::Tensor mean_prediction(const at::Tensor& samples) {
  check_mask_stack(samples, "samples");
  return samples.sum(0, /*keepdim=*/false, torch::kLong) * 2 > samples.size(0);
}

at::Tensor majority_vote(const at::Tensor& annotators) {
  check_mask_stack(annotators, "annotators");
  return annotators.sum(0, /*keepdim=*/false, torch::kLong) * 2 > annotators.size(0);
}

OverlapScores overlap_scores(const at::Tensor& prediction, const at::Tensor& annotators) {
  PSAM_CHECK(prediction.defined() && prediction.dim() == 2,
             fmt::format("prediction: expected an [H,W] mask, got shape {}",
                         prediction.defined() ? c10::str(prediction.sizes()) : "none"));
  check_mask_stack(prediction.unsqueeze(0), "prediction");
  check_mask_stack(annotators, "annotators");
  check_same_size(prediction, "prediction", annotators, "annotators");
  // Row 0: majority vote; rows 1..M: the annotators.
  const at::Tensor refs = flatten_masks(
      torch::cat({majority_vote(annotators).unsqueeze(0), annotators.to(torch::kBool)}));
  const at::Tensor pred = prediction.reshape({-1}).to(torch::kDouble);
  const at::Tensor inter = refs.matmul(pred);
  const at::Tensor area_sum = refs.sum(1) + pred.sum();
  const at::Tensor dsc =
      torch::where(area_sum == 0, torch::ones_like(inter), 2.0 * inter / area_sum).cpu();
  const at::Tensor iou = iou_from_counts(inter, area_sum - inter, IouConvention::kPhiseg).cpu();
  OverlapScores s;
  s.dsc = dsc[0].item<double>();
  s.iou = iou[0].item<double>();
  s.dsc_annotator_mean = mean_of(dsc.slice(0, 1));
  s.iou_annotator_mean = mean_of(iou.slice(0, 1));
  return s;
}

std::vector<std::pair<std::string, double>> CaseMetrics::scalars() const {
  return {{"ged", ged},
          {"hm_iou", hm_iou},
          {"ncc", ncc},
          {"diversity", diversity},
          {"dsc", dsc},
          {"iou", iou},
          {"dsc_annotator_mean", dsc_annotator_mean},
          {"iou_annotator_mean", iou_annotator_mean}};
}

CaseMetrics evaluate_case(const at::Tensor& samples, const at::Tensor& annotators,
                          const at::Tensor& probs, const MetricOptions& options) {
  const PairwiseDistances d = pairwise_distances(samples, annotators, options.ged_convention);
  CaseMetrics r;
  r.ged = generalized_energy_distance(d);
  r.diversity = sample_diversity(d);

  const int64_t n = samples.size(0);
  const int64_t m = annotators.size(0);
  if (n % m == 0) {
    const at::Tensor sy = options.hm_iou_convention == options.ged_convention
                              ? d.sy
                              : iou_distance_matrix(samples, annotators, options.hm_iou_convention);
    r.hm_iou = hungarian_matched_iou(sy);
  } else {
    r.hm_iou = kNaN;
  }

  if (probs.defined()) {
    PSAM_CHECK(probs.sizes() == samples.sizes(),
               fmt::format("probs: expected the samples' shape {}, got {}",
                           c10::str(samples.sizes()), c10::str(probs.sizes())));
    NccResult ncc = variance_ncc(probs, annotators);
    r.ncc = ncc.value;
    r.ncc_per_annotator = std::move(ncc.per_annotator);
  } else {
    r.ncc = kNaN;
  }

  const OverlapScores o = overlap_scores(mean_prediction(samples), annotators);
  r.dsc = o.dsc;
  r.iou = o.iou;
  r.dsc_annotator_mean = o.dsc_annotator_mean;
  r.iou_annotator_mean = o.iou_annotator_mean;
  return r;
}

MetricSummary summarize(const std::vector<CaseMetrics>& cases, const MetricOptions& options) {
  MetricSummary s;
  s.options = options;
  s.num_cases = static_cast<int64_t>(cases.size());
  for (const auto& [name, value] : CaseMetrics{}.scalars()) s.names.push_back(name);
  std::vector<double> sum(s.names.size(), 0.0);
  s.count.assign(s.names.size(), 0);
  for (const CaseMetrics& c : cases) {
    const auto values = c.scalars();
    for (size_t k = 0; k < values.size(); ++k) {
      if (std::isnan(values[k].second)) continue;
      sum[k] += values[k].second;
      ++s.count[k];
    }
  }
  for (size_t k = 0; k < sum.size(); ++k) {
    s.mean.push_back(s.count[k] > 0 ? sum[k] / static_cast<double>(s.count[k]) : kNaN);
  }
  return s;
}

}  // namespace psam::eval
