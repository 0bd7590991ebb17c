#include "psam/models/usam/usam_targets.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <random>

#include "psam/eval/metrics.h"
#include "psam/util/device.h"
#include "psam/util/error.h"

namespace psam::models {

std::vector<double> mask_ious(const at::Tensor& masks, const at::Tensor& ground_truth) {
  PSAM_CHECK(masks.dim() == 3 && ground_truth.dim() == 2 && masks.size(1) == ground_truth.size(0) &&
                 masks.size(2) == ground_truth.size(1),
             "usam: masks must be [M,H,W] and the ground truth [H,W] of the same size");
  // psam's evaluator's IoU (PHiSeg convention: two empty masks agree).
  const at::Tensor iou = to_host(1.0 - eval::iou_distance_matrix(
                                             masks.to(at::kBool), ground_truth.to(at::kBool).unsqueeze(0),
                                             eval::IouConvention::kPhiseg)
                                             .select(1, 0))
                             .contiguous();
  return {iou.data_ptr<double>(), iou.data_ptr<double>() + iou.numel()};
}

std::vector<std::string> usam_head_names(bool model_gap) {
  std::vector<std::string> names = {"iou", "unsupervised_iou", "task_gap", "prompt_gap"};
  if (model_gap) names.emplace_back("model_gap");
  return names;
}

double shifted_gap(double gap) { return std::clamp(gap + 0.5, 0.0, 1.0); }

std::vector<double> usam_targets(const std::vector<double>& ious, int64_t chosen,
                                 const std::vector<double>& dense_ious,
                                 const std::vector<double>& larger_ious) {
  PSAM_CHECK(!ious.empty() && chosen >= 0 && chosen < static_cast<int64_t>(ious.size()),
             fmt::format("usam: chosen mask {} of {}", chosen, ious.size()));
  const double best = *std::max_element(ious.begin(), ious.end());
  const double unsupervised = ious[static_cast<size_t>(chosen)];
  const double dense =
      dense_ious.empty() ? best : *std::max_element(dense_ious.begin(), dense_ious.end());
  std::vector<double> targets = {best, unsupervised, shifted_gap(best - unsupervised),
                                 shifted_gap(dense - best)};
  if (!larger_ious.empty())
    targets.push_back(
        shifted_gap(*std::max_element(larger_ious.begin(), larger_ious.end()) - best));
  return targets;
}

at::Tensor dense_prompt_points(const at::Tensor& ground_truth, int64_t extra, uint64_t seed) {
  PSAM_CHECK(ground_truth.dim() == 2, "usam: the ground truth must be [H,W]");
  const at::Tensor fg = to_host(ground_truth.to(at::kBool)).nonzero();  // [F,2] (y, x), row-major
  const int64_t count = fg.size(0);
  if (count == 0) return at::zeros({0, 2}, at::kFloat);
  const auto yx = fg.accessor<int64_t, 2>();
  double cy = 0, cx = 0;
  for (int64_t i = 0; i < count; ++i) {
    cy += static_cast<double>(yx[i][0]);
    cx += static_cast<double>(yx[i][1]);
  }
  cy /= static_cast<double>(count);
  cx /= static_cast<double>(count);
  int64_t centre = 0;
  double nearest = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < count; ++i) {
    const double dy = static_cast<double>(yx[i][0]) - cy, dx = static_cast<double>(yx[i][1]) - cx;
    if (dy * dy + dx * dx < nearest) {
      nearest = dy * dy + dx * dx;
      centre = i;
    }
  }
  std::vector<int64_t> rest;
  for (int64_t i = 0; i < count; ++i) {
    if (i != centre) rest.push_back(i);
  }
  // A partial Fisher-Yates shuffle: the first `take` of `rest` are the draw.
  std::mt19937_64 engine(seed);
  const int64_t take = std::min<int64_t>(extra, static_cast<int64_t>(rest.size()));
  for (int64_t i = 0; i < take; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, static_cast<int64_t>(rest.size()) - 1);
    std::swap(rest[static_cast<size_t>(i)], rest[static_cast<size_t>(pick(engine))]);
  }
  at::Tensor points = at::empty({1 + take, 2}, at::kFloat);
  auto p = points.accessor<float, 2>();
  const auto put = [&](int64_t row, int64_t i) {
    // Integer pixel coordinates, as the loader's boxes.
    p[row][0] = static_cast<float>(yx[i][1]);
    p[row][1] = static_cast<float>(yx[i][0]);
  };
  put(0, centre);
  for (int64_t i = 0; i < take; ++i) put(1 + i, rest[static_cast<size_t>(i)]);
  return points;
}

}  // namespace psam::models
