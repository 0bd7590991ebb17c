#include "psam/eval/metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
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

// Pixels per block when a computation over `rows` images streams over the pixels: float64
// temporaries of about 1 MB stay in cache and are recycled by the allocator, where whole-image
// temporaries (tens of MB for 16 samples of 512 x 512) cost fresh pages on every operation.
int64_t pixel_block(int64_t rows) {
  constexpr int64_t kBlockElements = int64_t{1} << 17;
  return std::max<int64_t>(1024, kBlockElements / std::max<int64_t>(rows, 1));
}

// [K,H,W] masks -> [K, H*W] rows, dtype kept.
at::Tensor flatten_masks(const at::Tensor& masks) { return masks.reshape({masks.size(0), -1}); }

// Pixel counts of flattened 0/1 masks a [A,P], b [B,P], accumulated in float64 per pixel block
// (exact: counts stay far below 2^53).
struct Overlaps {
  at::Tensor inter;   // [A,B] |a_i ∩ b_j|, one matrix product per block
  at::Tensor area_a;  // [A] |a_i|
  at::Tensor area_b;  // [B] |b_j|
};

Overlaps overlaps(const at::Tensor& a, const at::Tensor& b) {
  const auto f64 = a.options().dtype(torch::kDouble);
  Overlaps o{torch::zeros({a.size(0), b.size(0)}, f64), torch::zeros({a.size(0)}, f64),
             torch::zeros({b.size(0)}, f64)};
  const bool same = a.is_same(b);
  const int64_t block = pixel_block(a.size(0) + b.size(0));
  for (int64_t start = 0; start < a.size(1); start += block) {
    const at::Tensor ab = a.slice(1, start, start + block).to(torch::kDouble);
    const at::Tensor bb = same ? ab : b.slice(1, start, start + block).to(torch::kDouble);
    o.inter.addmm_(ab, bb.t());
    o.area_a += ab.sum(1);
    o.area_b += bb.sum(1);
  }
  return o;
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

// 1 - IoU of every pair counted in o.
at::Tensor distance_from_overlaps(const Overlaps& o, IouConvention convention) {
  const at::Tensor uni = o.area_a.unsqueeze(1) + o.area_b.unsqueeze(0) - o.inter;
  return 1.0 - iou_from_counts(o.inter, uni, convention);
}

// Counts of samples and annotators stacked: one (N+M) x (N+M) product gives every intersection.
Overlaps stacked_overlaps(const at::Tensor& samples, const at::Tensor& annotators) {
  check_mask_stack(samples, "samples");
  check_mask_stack(annotators, "annotators");
  check_same_size(samples, "samples", annotators, "annotators");
  const at::Tensor all = torch::cat(
      {flatten_masks(samples).to(torch::kBool), flatten_masks(annotators).to(torch::kBool)}, 0);
  return overlaps(all, all);
}

// The blocks of an (N+M) x (N+M) distance matrix of stacked samples and annotators.
PairwiseDistances split_distances(const at::Tensor& d, int64_t n) {
  return {d.slice(0, 0, n).slice(1, 0, n), d.slice(0, 0, n).slice(1, n), d.slice(0, n).slice(1, n)};
}

double mean_of(const at::Tensor& t) { return t.mean().item<double>(); }

// Per-pixel count of foreground masks in a [K,H,W] stack, one image at a time (a whole-stack
// sum would first convert every mask to the accumulator type).
at::Tensor foreground_count(const at::Tensor& masks) {
  at::Tensor count =
      torch::zeros({masks.size(1), masks.size(2)}, masks.options().dtype(torch::kInt));
  for (int64_t k = 0; k < masks.size(0); ++k) count += masks[k];
  return count;
}

}  // namespace

std::string to_string(IouConvention convention) { return name_of(convention); }

IouConvention iou_convention_from_string(const std::string& name) {
  return value_of<IouConvention>(name, "IoU convention");
}

at::Tensor iou_distance_matrix(const at::Tensor& a, const at::Tensor& b, IouConvention convention) {
  check_mask_stack(a, "iou_distance_matrix: a");
  check_mask_stack(b, "iou_distance_matrix: b");
  check_same_size(a, "a", b, "b");
  return distance_from_overlaps(overlaps(flatten_masks(a), flatten_masks(b)), convention);
}

PairwiseDistances pairwise_distances(const at::Tensor& samples, const at::Tensor& annotators,
                                     IouConvention convention) {
  return split_distances(distance_from_overlaps(stacked_overlaps(samples, annotators), convention),
                         samples.size(0));
}

double generalized_energy_distance(const PairwiseDistances& d) {
  return 2.0 * mean_of(d.sy) - mean_of(d.ss) - mean_of(d.yy);
}

double sample_diversity(const PairwiseDistances& d) { return mean_of(d.ss); }

double annotator_diversity(const PairwiseDistances& d) { return mean_of(d.yy); }

double hungarian_matched_iou(const at::Tensor& dist_sy) {
  PSAM_CHECK(dist_sy.dim() == 2 && dist_sy.size(0) >= 1 && dist_sy.size(1) >= 1,
             fmt::format("hungarian_matched_iou: expected an [N,M] distance matrix, got shape {}",
                         c10::str(dist_sy.sizes())));
  const int64_t n = dist_sy.size(0);
  const int64_t m = dist_sy.size(1);
  // L = lcm(N, M) copies on each side: every sample L/N times, every annotator L/M times. Where
  // M divides N this is MoSE's tiling (L = N, no sample copied); otherwise the assignment is the
  // optimal transport of mass 1/N per sample to 1/M per annotator, whose optimum has a plan in
  // multiples of 1/L (the transportation polytope's vertices are integral).
  const int64_t l = std::lcm(n, m);
  PSAM_CHECK(l <= kMaxMatchedCopies,
             fmt::format("HM-IoU: lcm(N={}, M={}) = {} copies is more than the {} this "
                         "assignment takes; use an N that is a multiple of M",
                         n, m, l, kMaxMatchedCopies));
  const at::Tensor cost =
      dist_sy.to(torch::kCPU, torch::kDouble).repeat_interleave(l / n, 0).repeat({1, l / m});
  const std::vector<int64_t> column = linear_assignment(cost);
  const auto c = cost.accessor<double, 2>();
  double matched_iou = 0.0;
  for (int64_t i = 0; i < l; ++i) matched_iou += 1.0 - c[i][column[i]];
  return matched_iou / static_cast<double>(l);
}

double best_of_n_matched_iou(const at::Tensor& dist_sy) {
  PSAM_CHECK(dist_sy.dim() == 2 && dist_sy.size(0) >= 1 && dist_sy.size(1) >= 1,
             fmt::format("best_of_n_matched_iou: expected an [N,M] distance matrix, got shape {}",
                         c10::str(dist_sy.sizes())));
  const int64_t n = dist_sy.size(0);
  const int64_t m = dist_sy.size(1);
  // A square problem: the smaller side is padded with dummies that cost 0 against everything,
  // so the optimum pairs min(N, M) real rows and columns at the least distance.
  const int64_t size = std::max(n, m);
  const at::Tensor cost = torch::zeros({size, size}, torch::kDouble);
  cost.slice(0, 0, n).slice(1, 0, m).copy_(dist_sy.to(torch::kCPU, torch::kDouble));
  const std::vector<int64_t> column = linear_assignment(cost);
  const auto c = cost.accessor<double, 2>();
  double matched_iou = 0.0;
  for (int64_t i = 0; i < n; ++i)
    if (column[i] < m) matched_iou += 1.0 - c[i][column[i]];
  return matched_iou / static_cast<double>(std::min(n, m));
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
  const at::Tensor p_flat = probs.reshape({n, -1});

  // With L_c(x) = mean_i ln(q_i,c(x) + eps), the mean cross-entropy of any two-class target t
  // against the samples is -(t_0 L_0 + t_1 L_1): E_ss and every E_sy_j share L_0 and L_1.
  const auto pixels = p_flat.size(1);
  const auto f64 = p_flat.options().dtype(torch::kDouble);
  at::Tensor log0 = torch::empty({pixels}, f64);
  at::Tensor log1 = torch::empty({pixels}, f64);
  at::Tensor e_ss = torch::empty({pixels}, f64);
  const int64_t block = pixel_block(n);
  for (int64_t start = 0; start < pixels; start += block) {
    const int64_t end = std::min(pixels, start + block);
    // float64 before anything else, so 1 - p is computed in float64 as in the reference.
    const at::Tensor q1 = p_flat.slice(1, start, end).to(torch::kDouble);
    PSAM_CHECK(((q1 >= 0) & (q1 <= 1)).all().item<bool>(),
               "probs: expected probabilities in [0,1] (found NaN or a value outside)");
    const at::Tensor q0 = 1.0 - q1;
    const at::Tensor l0 = torch::log(q0 + kNccEpsilon).mean(0);
    const at::Tensor l1 = torch::log(q1 + kNccEpsilon).mean(0);
    log0.slice(0, start, end).copy_(l0);
    log1.slice(0, start, end).copy_(l1);
    e_ss.slice(0, start, end).copy_(-(q0.mean(0) * l0 + q1.mean(0) * l1));
  }

  // NCC_j = cov(E_ss, E_sy_j) / (std(E_ss) std(E_sy_j)), population statistics (divide by P).
  // A constant map has no correlation: flagged explicitly, since rounding in its mean would
  // otherwise leave a tiny, meaningless deviation instead of 0/0.
  const auto centered = [](const at::Tensor& e) { return e - e.mean(); };
  const auto population_std = [&](const at::Tensor& c) {
    return std::sqrt(c.dot(c).item<double>() / static_cast<double>(pixels));
  };
  const bool ss_constant = (e_ss.max() == e_ss.min()).item<bool>();
  const at::Tensor c_ss = centered(e_ss);
  const double std_ss = population_std(c_ss);
  const at::Tensor y = flatten_masks(annotators).to(torch::kBool);

  NccResult result;
  result.per_annotator.resize(m);
  double sum = 0.0;
  for (int64_t j = 0; j < m; ++j) {
    // One-hot annotator: the cross-entropy picks L_1 on its foreground, L_0 elsewhere.
    const at::Tensor e_sy = -torch::where(y[j], log1, log0);
    const bool constant = ss_constant || (e_sy.max() == e_sy.min()).item<bool>();
    const at::Tensor c_sy = centered(e_sy);
    result.per_annotator[j] = constant
                                  ? kNaN
                                  : c_ss.dot(c_sy).item<double>() / static_cast<double>(pixels) /
                                        (std_ss * population_std(c_sy));
    sum += result.per_annotator[j];
  }
  result.value = sum / static_cast<double>(m);
  return result;
}

at::Tensor mean_prediction(const at::Tensor& samples) {
  check_mask_stack(samples, "samples");
  return foreground_count(samples) * 2 > samples.size(0);
}

at::Tensor majority_vote(const at::Tensor& annotators) {
  check_mask_stack(annotators, "annotators");
  return foreground_count(annotators) * 2 > annotators.size(0);
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
  const at::Tensor pred = prediction.reshape({1, -1}).to(torch::kBool);
  const Overlaps o = overlaps(refs, pred);
  const at::Tensor inter = o.inter.squeeze(1);
  const at::Tensor area_sum = o.area_a + o.area_b;
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
          {"annotator_diversity", annotator_diversity},
          {"dsc", dsc},
          {"iou", iou},
          {"dsc_annotator_mean", dsc_annotator_mean},
          {"iou_annotator_mean", iou_annotator_mean}};
}

CaseMetrics evaluate_case(const at::Tensor& samples, const at::Tensor& annotators,
                          const at::Tensor& probs, const MetricOptions& options) {
  const Overlaps counts = stacked_overlaps(samples, annotators);
  const int64_t n = samples.size(0);
  const int64_t m = annotators.size(0);
  const PairwiseDistances d =
      split_distances(distance_from_overlaps(counts, options.ged_convention), n);
  CaseMetrics r;
  r.ged = generalized_energy_distance(d);
  r.diversity = sample_diversity(d);
  r.annotator_diversity = annotator_diversity(d);

  {
    const at::Tensor sy =
        options.hm_iou_convention == options.ged_convention
            ? d.sy
            : split_distances(distance_from_overlaps(counts, options.hm_iou_convention), n).sy;
    if (options.hm_iou_matching == HmIouMatching::kBestOfN)
      r.hm_iou = best_of_n_matched_iou(sy);
    else
      r.hm_iou = std::lcm(n, m) <= kMaxMatchedCopies ? hungarian_matched_iou(sy) : kNaN;
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
