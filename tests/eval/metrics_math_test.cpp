// Properties and hand-computed values of the metrics, independent of the golden file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "psam/eval/metrics.h"
#include "psam/util/error.h"

namespace psam::eval {
namespace {

// Masks of one row: {"1100", "0110"} -> uint8 [2,1,4].
at::Tensor rows(std::initializer_list<const char*> masks) {
  std::vector<uint8_t> values;
  int64_t width = 0;
  for (const char* m : masks) {
    width = static_cast<int64_t>(std::strlen(m));
    for (const char* p = m; *p; ++p) values.push_back(*p == '1');
  }
  return torch::tensor(values, torch::kUInt8)
      .reshape({static_cast<int64_t>(masks.size()), 1, width});
}

at::Tensor random_masks(int64_t k, int64_t h, int64_t w, double p) {
  return (torch::rand({k, h, w}) < p).to(torch::kUInt8);
}

double ged(const at::Tensor& s, const at::Tensor& y, IouConvention c = IouConvention::kPhiseg) {
  return generalized_energy_distance(pairwise_distances(s, y, c));
}

TEST(Metrics, ConventionNamesRoundTrip) {
  for (auto c : {IouConvention::kPhiseg, IouConvention::kMose, IouConvention::kEmptyZero}) {
    EXPECT_EQ(iou_convention_from_string(to_string(c)), c);
  }
  EXPECT_THROW(iou_convention_from_string("dice"), psam::Error);
}

TEST(Metrics, EmptyPairConventions) {
  const at::Tensor empty = rows({"0000"});
  const at::Tensor two = rows({"0110"});
  // Both empty.
  EXPECT_EQ(iou_distance_matrix(empty, empty, IouConvention::kPhiseg).item<double>(), 0.0);
  EXPECT_EQ(iou_distance_matrix(empty, empty, IouConvention::kMose).item<double>(), 0.0);
  EXPECT_EQ(iou_distance_matrix(empty, empty, IouConvention::kEmptyZero).item<double>(), 1.0);
  // Exactly one empty: MoSE's smoothing leaves IoU = eps / (|B| + eps).
  EXPECT_EQ(iou_distance_matrix(empty, two, IouConvention::kPhiseg).item<double>(), 1.0);
  EXPECT_EQ(iou_distance_matrix(two, empty, IouConvention::kEmptyZero).item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(iou_distance_matrix(empty, two, IouConvention::kMose).item<double>(),
                   1.0 - 1e-8 / (2.0 + 1e-8));
}

TEST(Metrics, HandComputedGed) {
  const at::Tensor a = rows({"1100"});
  const at::Tensor b = rows({"0110"});  // IoU(a,b) = 1/3
  EXPECT_DOUBLE_EQ(ged(a, b), 2.0 * (2.0 / 3.0));
  // S = {a, empty}, Y = {b}: E[d(S,Y)] = (2/3 + 1)/2, E[d(S,S')] = 2/4, E[d(Y,Y')] = 0.
  const at::Tensor s = rows({"1100", "0000"});
  EXPECT_DOUBLE_EQ(ged(s, b), 2.0 * (5.0 / 6.0) - 0.5);
  // With d(empty, empty) = 1 the sample term becomes 3/4.
  EXPECT_DOUBLE_EQ(ged(s, b, IouConvention::kEmptyZero), 2.0 * (5.0 / 6.0) - 0.75);
  const double d_ab = 1.0 - (1.0 + 1e-8) / (3.0 + 1e-8);
  const double d_eb = 1.0 - 1e-8 / (2.0 + 1e-8);
  const double d_ae = 1.0 - 1e-8 / (2.0 + 1e-8);
  EXPECT_NEAR(ged(s, b, IouConvention::kMose), (d_ab + d_eb) - 2.0 * d_ae / 4.0, 1e-15);
}

TEST(Metrics, IdenticalSetsHaveZeroGed) {
  torch::manual_seed(1);
  for (int trial = 0; trial < 5; ++trial) {
    const at::Tensor y = random_masks(4, 9, 7, 0.4);
    const at::Tensor s = torch::cat({y, y.flip(0)});  // every annotator twice
    for (auto c : {IouConvention::kPhiseg, IouConvention::kMose, IouConvention::kEmptyZero}) {
      EXPECT_NEAR(ged(y, y, c), 0.0, 1e-15) << to_string(c);
      EXPECT_NEAR(ged(s, y, c), 0.0, 1e-15) << to_string(c);
    }
    EXPECT_DOUBLE_EQ(hungarian_matched_iou(iou_distance_matrix(s, y, IouConvention::kMose)), 1.0);
  }
}

TEST(Metrics, DistanceIsSymmetricAndGedSymmetricInItsSets) {
  torch::manual_seed(2);
  const at::Tensor s = random_masks(6, 8, 8, 0.3);
  const at::Tensor y = random_masks(3, 8, 8, 0.5);
  for (auto c : {IouConvention::kPhiseg, IouConvention::kMose}) {
    EXPECT_TRUE(torch::equal(iou_distance_matrix(s, y, c), iou_distance_matrix(y, s, c).t()));
    const auto d = pairwise_distances(s, y, c);
    EXPECT_TRUE(torch::allclose(d.ss, d.ss.t(), 0, 0));
    EXPECT_TRUE(torch::equal(d.ss.diagonal(), torch::zeros({6}, torch::kDouble)));
    EXPECT_NEAR(ged(s, y, c), ged(y, s, c), 1e-15);
    EXPECT_GE(ged(s, y, c), -1e-15);  // a squared energy distance of a metric d: never negative
  }
}

TEST(Metrics, InvariantUnderPermutationsOfSamplesAndAnnotators) {
  torch::manual_seed(3);
  const at::Tensor probs = torch::rand({8, 10, 12});
  const at::Tensor s = (probs > 0.5).to(torch::kUInt8);
  const at::Tensor y = random_masks(4, 10, 12, 0.5);
  const at::Tensor ps = torch::randperm(8);
  const at::Tensor py = torch::randperm(4);
  const CaseMetrics a = evaluate_case(s, y, probs);
  const CaseMetrics b =
      evaluate_case(s.index_select(0, ps), y.index_select(0, py), probs.index_select(0, ps));
  const auto va = a.scalars();
  const auto vb = b.scalars();
  for (size_t k = 0; k < va.size(); ++k)
    EXPECT_NEAR(va[k].second, vb[k].second, 1e-12) << va[k].first;
  for (int64_t j = 0; j < 4; ++j) {
    EXPECT_NEAR(a.ncc_per_annotator[py[j].item<int64_t>()], b.ncc_per_annotator[j], 1e-12);
  }
}

// HM-IoU by enumeration: the best mean IoU over all ways to give each annotator N/M samples.
double brute_force_hm_iou(const at::Tensor& dist_sy) {
  const int64_t n = dist_sy.size(0);
  const int64_t m = dist_sy.size(1);
  const auto d = dist_sy.accessor<double, 2>();
  std::vector<int64_t> annotator(n);
  for (int64_t i = 0; i < n; ++i) annotator[i] = i % m;
  std::sort(annotator.begin(), annotator.end());
  double best = 0.0;
  do {
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) total += 1.0 - d[i][annotator[i]];
    best = std::max(best, total / n);
  } while (std::next_permutation(annotator.begin(), annotator.end()));
  return best;
}

TEST(Metrics, HungarianMatchedIouMatchesEnumerationAndIsBounded) {
  torch::manual_seed(4);
  for (auto [n, m] : {std::pair<int64_t, int64_t>{6, 3}, {6, 2}, {8, 4}, {4, 1}, {5, 5}}) {
    for (int trial = 0; trial < 4; ++trial) {
      const at::Tensor sy = iou_distance_matrix(random_masks(n, 6, 6, 0.4),
                                                random_masks(m, 6, 6, 0.4), IouConvention::kMose);
      const double hm = hungarian_matched_iou(sy);
      EXPECT_NEAR(hm, brute_force_hm_iou(sy), 1e-14) << "N=" << n << " M=" << m;
      EXPECT_GE(hm, 0.0);
      EXPECT_LE(hm, 1.0);
      // Never below the mean IoU (the average over all balanced assignments).
      EXPECT_GE(hm, (1.0 - sy).mean().item<double>() - 1e-14);
    }
  }
}

// The transport generalisation by enumeration: the best mean IoU over every integral plan of
// L = lcm(N, M) copies, each sample sent L/N times and each annotator receiving L/M.
double brute_force_transport_hm_iou(const at::Tensor& dist_sy) {
  const int64_t n = dist_sy.size(0), m = dist_sy.size(1), l = std::lcm(n, m);
  const auto d = dist_sy.accessor<double, 2>();
  std::vector<int64_t> left(m, l / m);  // what each annotator may still receive
  double best = -1.0;
  std::function<void(int64_t, int64_t, int64_t, double)> place = [&](int64_t i, int64_t j,
                                                                     int64_t rest, double total) {
    if (i == n) {
      best = std::max(best, total / static_cast<double>(l));
      return;
    }
    if (j == m - 1) {  // the last annotator takes what is left of sample i
      if (rest > left[j]) return;
      left[j] -= rest;
      place(i + 1, 0, l / n, total + rest * (1.0 - d[i][j]));
      left[j] += rest;
      return;
    }
    for (int64_t c = 0; c <= std::min(rest, left[j]); ++c) {
      left[j] -= c;
      place(i, j + 1, rest - c, total + c * (1.0 - d[i][j]));
      left[j] += c;
    }
  };
  place(0, 0, l / n, 0.0);
  return best;
}

// The same optimum by another algorithm: min-cost flow (successive shortest paths, Bellman-Ford)
// from the samples (L/N units each) to the annotators (L/M each), cost d.
double min_cost_flow_hm_iou(const at::Tensor& dist_sy) {
  const int64_t n = dist_sy.size(0), m = dist_sy.size(1), l = std::lcm(n, m);
  const auto d = dist_sy.accessor<double, 2>();
  struct Edge {
    int64_t to, cap;
    double cost;
  };
  const int64_t source = n + m, sink = n + m + 1, nodes = n + m + 2;
  std::vector<Edge> edges;
  std::vector<std::vector<int64_t>> out(nodes);
  const auto add = [&](int64_t a, int64_t b, int64_t cap, double cost) {
    out[a].push_back(static_cast<int64_t>(edges.size()));
    edges.push_back({b, cap, cost});
    out[b].push_back(static_cast<int64_t>(edges.size()));
    edges.push_back({a, 0, -cost});
  };
  for (int64_t i = 0; i < n; ++i) add(source, i, l / n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) add(i, n + j, l, d[i][j]);
  for (int64_t j = 0; j < m; ++j) add(n + j, sink, l / m, 0.0);
  double cost = 0.0;
  for (int64_t flow = 0; flow < l;) {
    std::vector<double> dist(nodes, std::numeric_limits<double>::infinity());
    std::vector<int64_t> via(nodes, -1);
    dist[source] = 0.0;
    for (int64_t round = 0; round < nodes; ++round)
      for (int64_t a = 0; a < nodes; ++a)
        for (int64_t e : out[a])
          if (edges[e].cap > 0 && dist[a] + edges[e].cost < dist[edges[e].to] - 1e-15) {
            dist[edges[e].to] = dist[a] + edges[e].cost;
            via[edges[e].to] = e;
          }
    int64_t push = l - flow;
    for (int64_t v = sink; v != source; v = edges[via[v] ^ 1].to) push = std::min(push, edges[via[v]].cap);
    for (int64_t v = sink; v != source; v = edges[via[v] ^ 1].to) {
      edges[via[v]].cap -= push;
      edges[via[v] ^ 1].cap += push;
    }
    cost += push * dist[sink];
    flow += push;
  }
  return 1.0 - cost / static_cast<double>(l);
}

TEST(Metrics, HungarianMatchedIouForAnyMIsTheTransportOptimum) {
  torch::manual_seed(5);
  // Small cases against every plan.
  for (auto [n, m] : {std::pair<int64_t, int64_t>{5, 2}, {4, 3}, {3, 2}, {2, 3}, {5, 3}}) {
    for (int trial = 0; trial < 3; ++trial) {
      const at::Tensor sy = iou_distance_matrix(random_masks(n, 6, 6, 0.4),
                                                random_masks(m, 6, 6, 0.4), IouConvention::kMose);
      EXPECT_NEAR(hungarian_matched_iou(sy), brute_force_transport_hm_iou(sy), 1e-12)
          << "N=" << n << " M=" << m;
    }
  }
  // The rater counts psam imports (3; REFUGE2's 7) at the default N = 16, against min-cost flow.
  for (const int64_t m : {3, 7}) {
    const at::Tensor s = random_masks(16, 8, 8, 0.4), y = random_masks(m, 8, 8, 0.4);
    const at::Tensor sy = iou_distance_matrix(s, y, IouConvention::kMose);
    const double hm = hungarian_matched_iou(sy);
    EXPECT_NEAR(hm, min_cost_flow_hm_iou(sy), 1e-12) << "M=" << m;
    EXPECT_NEAR(evaluate_case(s, y, {}).hm_iou, hm, 1e-12) << "M=" << m;
  }
  // Where M divides N, min-cost flow agrees with the published (tiled) definition too.
  const at::Tensor sy =
      iou_distance_matrix(random_masks(8, 6, 6, 0.4), random_masks(4, 6, 6, 0.4), IouConvention::kMose);
  EXPECT_NEAR(hungarian_matched_iou(sy), min_cost_flow_hm_iou(sy), 1e-12);
}

// The Flow-SSN variant by enumeration: the best mean IoU over every way to pair min(N, M)
// samples and annotators one to one.
double brute_force_best_of_n(const at::Tensor& dist_sy) {
  const int64_t n = dist_sy.size(0), m = dist_sy.size(1), k = std::min(n, m);
  const auto d = dist_sy.accessor<double, 2>();
  // Permutations of the larger side; its first k entries pair with the smaller side in order.
  std::vector<int64_t> order(std::max(n, m));
  std::iota(order.begin(), order.end(), 0);
  double best = -1.0;
  do {
    double total = 0.0;
    for (int64_t i = 0; i < k; ++i) total += 1.0 - (n >= m ? d[order[i]][i] : d[i][order[i]]);
    best = std::max(best, total / static_cast<double>(k));
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

TEST(Metrics, BestOfNMatchingIsTheOneToOneOptimum) {
  torch::manual_seed(6);
  for (auto [n, m] : {std::pair<int64_t, int64_t>{6, 3}, {7, 3}, {5, 5}, {2, 4}, {8, 1}}) {
    for (int trial = 0; trial < 3; ++trial) {
      const at::Tensor s = random_masks(n, 6, 6, 0.4), y = random_masks(m, 6, 6, 0.4);
      const at::Tensor sy = iou_distance_matrix(s, y, IouConvention::kMose);
      const double best = best_of_n_matched_iou(sy);
      EXPECT_NEAR(best, brute_force_best_of_n(sy), 1e-12) << "N=" << n << " M=" << m;
      // Every sample matched (transport) can only do as well as the best M of them.
      EXPECT_GE(best, hungarian_matched_iou(sy) - 1e-12) << "N=" << n << " M=" << m;
      MetricOptions options;
      options.hm_iou_matching = HmIouMatching::kBestOfN;
      EXPECT_NEAR(evaluate_case(s, y, {}, options).hm_iou, best, 1e-12);
    }
  }
  // N = M: one sample per annotator either way.
  const at::Tensor sy =
      iou_distance_matrix(random_masks(4, 6, 6, 0.4), random_masks(4, 6, 6, 0.4), IouConvention::kMose);
  EXPECT_NEAR(best_of_n_matched_iou(sy), hungarian_matched_iou(sy), 1e-12);
  // Two empty masks match perfectly (IoU 1), as Flow-SSN scores them.
  const at::Tensor empty = torch::zeros({3, 4, 4}, torch::kUInt8);
  EXPECT_DOUBLE_EQ(best_of_n_matched_iou(iou_distance_matrix(empty, empty.slice(0, 0, 2),
                                                             IouConvention::kMose)),
                   1.0);
}

TEST(Metrics, HungarianMatchedIouRefusesTooManyCopies) {
  const at::Tensor s = random_masks(kMaxMatchedCopies - 1, 2, 2, 0.5);
  const at::Tensor y = random_masks(2, 2, 2, 0.5);
  try {
    hungarian_matched_iou(iou_distance_matrix(s, y, IouConvention::kMose));
    FAIL() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lcm(N=2047, M=2)"), std::string::npos) << e.what();
  }
  const CaseMetrics r = evaluate_case(s, y, {});
  EXPECT_TRUE(std::isnan(r.hm_iou));
  EXPECT_FALSE(std::isnan(r.ged));
}

TEST(Metrics, MajorityVoteAndMeanPredictionAreStrict) {
  // Counts per pixel 3,1,2,1 of M = 4: only count 3 (> 2) is a majority; the tie is background.
  const at::Tensor y = rows({"1100", "1010", "0011", "1000"});
  EXPECT_TRUE(torch::equal(majority_vote(y), rows({"1000"})[0].to(torch::kBool)));
  // N = 2 samples: a pixel marked by one of two (mean 0.5) is background.
  EXPECT_TRUE(
      torch::equal(mean_prediction(rows({"1100", "1001"})), rows({"1000"})[0].to(torch::kBool)));
  // One deterministic mask is its own prediction.
  EXPECT_TRUE(torch::equal(mean_prediction(rows({"0101"})), rows({"0101"})[0].to(torch::kBool)));
}

TEST(Metrics, HandComputedOverlapScores) {
  const at::Tensor y = rows({"1100", "1010", "0011", "1000"});  // majority "1000"
  const OverlapScores o = overlap_scores(rows({"1100"})[0], y);
  EXPECT_DOUBLE_EQ(o.dsc, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(o.iou, 0.5);
  // Per annotator: DSC 1, 1/2, 0, 2/3; IoU 1, 1/3, 0, 1/2.
  EXPECT_DOUBLE_EQ(o.dsc_annotator_mean, (1.0 + 0.5 + 0.0 + 2.0 / 3.0) / 4.0);
  EXPECT_DOUBLE_EQ(o.iou_annotator_mean, (1.0 + 1.0 / 3.0 + 0.0 + 0.5) / 4.0);

  // Empty against empty agrees perfectly; empty against a lesion not at all.
  const OverlapScores e = overlap_scores(rows({"0000"})[0], rows({"0000", "0000", "0100"}));
  EXPECT_EQ(e.dsc, 1.0);
  EXPECT_EQ(e.iou, 1.0);
  EXPECT_DOUBLE_EQ(e.dsc_annotator_mean, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(e.iou_annotator_mean, 2.0 / 3.0);
  const OverlapScores miss = overlap_scores(rows({"0000"})[0], rows({"0110"}));
  EXPECT_EQ(miss.dsc, 0.0);
  EXPECT_EQ(miss.iou, 0.0);
}

TEST(Metrics, EvaluateCaseUsesMeanOfSamples) {
  const at::Tensor s = rows({"1100", "1110", "0100"});  // mean > 0.5: "1100"
  const at::Tensor y = rows({"1100", "1010", "0011", "1000"});
  const CaseMetrics r = evaluate_case(s, y, {});
  EXPECT_DOUBLE_EQ(r.dsc, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.iou, 0.5);
  EXPECT_TRUE(std::isnan(r.ncc));  // no probabilities
  EXPECT_TRUE(r.ncc_per_annotator.empty());
  EXPECT_DOUBLE_EQ(r.diversity,
                   pairwise_distances(s, y, IouConvention::kPhiseg).ss.mean().item<double>());
  // The annotators' own spread, by hand: d = 1 - IoU of the 6 pairs is 2/3, 1, 1/2, 2/3, 1/2, 1;
  // each counts twice over the 16 ordered pairs (the diagonal is 0): 2 * 13/3 / 16.
  EXPECT_NEAR(r.annotator_diversity, 13.0 / 24.0, 1e-7);
}

TEST(Metrics, NccIsNanForConstantMaps) {
  const at::Tensor y = random_masks(3, 5, 5, 0.5);
  const NccResult r = variance_ncc(torch::full({4, 5, 5}, 0.3), y);
  EXPECT_TRUE(std::isnan(r.value));
  ASSERT_EQ(r.per_annotator.size(), 3u);
  for (double v : r.per_annotator) EXPECT_TRUE(std::isnan(v));
}

TEST(Metrics, NccIsACorrelation) {
  torch::manual_seed(5);
  const at::Tensor probs = torch::rand({6, 12, 9}, torch::kDouble);
  const at::Tensor y = random_masks(3, 12, 9, 0.5);
  const NccResult r = variance_ncc(probs, y);
  for (double v : r.per_annotator) {
    EXPECT_GE(v, -1.0 - 1e-12);
    EXPECT_LE(v, 1.0 + 1e-12);
  }
  EXPECT_NEAR(r.value, std::accumulate(r.per_annotator.begin(), r.per_annotator.end(), 0.0) / 3,
              1e-15);
  // float32 and float64 probabilities give the same result: converted before any arithmetic.
  EXPECT_NEAR(variance_ncc(probs.to(torch::kFloat), y).value,
              variance_ncc(probs.to(torch::kFloat).to(torch::kDouble), y).value, 1e-15);
}

TEST(Metrics, RejectsInvalidInputsNamingTheArgument) {
  const at::Tensor y = random_masks(2, 4, 4, 0.5);
  const auto error_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const psam::Error& e) {
      return e.what();
    }
    return "no error";
  };
  at::Tensor twos = y.clone();
  twos[0][0][0] = 2;
  EXPECT_NE(
      error_of([&] { evaluate_case(twos, y, {}); }).find("samples: mask values must be 0 or 1"),
      std::string::npos);
  EXPECT_NE(error_of([&] { evaluate_case(y, y.to(torch::kFloat), {}); }).find("annotators"),
            std::string::npos);
  EXPECT_NE(error_of([&] { evaluate_case(y[0], y, {}); }).find("samples: expected a [K,H,W]"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { evaluate_case(y, random_masks(2, 4, 5, 0.5), {}); }).find("differ in size"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              evaluate_case(y, y, torch::rand({3, 4, 4}));
            }).find("probs"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              evaluate_case(y, y, torch::rand({2, 4, 4}) + 1);
            }).find("[0,1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              evaluate_case(torch::zeros({0, 4, 4}, torch::kUInt8), y, {});
            }).find("non-empty"),
            std::string::npos);
}

TEST(Metrics, SummaryMeansOverDefinedCasesOnly) {
  CaseMetrics a;
  a.ged = 0.2;
  a.ncc = std::nan("");
  CaseMetrics b;
  b.ged = 0.4;
  b.ncc = 0.5;
  const MetricSummary s = summarize({a, b}, {});
  EXPECT_EQ(s.num_cases, 2);
  ASSERT_EQ(s.names.size(), a.scalars().size());
  const auto at = [&](const std::string& name) {
    return std::find(s.names.begin(), s.names.end(), name) - s.names.begin();
  };
  EXPECT_DOUBLE_EQ(s.mean[at("ged")], 0.3);
  EXPECT_EQ(s.count[at("ged")], 2);
  EXPECT_DOUBLE_EQ(s.mean[at("ncc")], 0.5);
  EXPECT_EQ(s.count[at("ncc")], 1);
  const MetricSummary none = summarize({}, {});
  EXPECT_TRUE(std::isnan(none.mean[0]));
  EXPECT_EQ(none.count[0], 0);
}

}  // namespace
}  // namespace psam::eval
