#include "psam/geometry/dihedral.h"

#include <torch/torch.h>

#include "psam/util/error.h"

namespace psam::geometry {

Dihedral inverse(const Dihedral& d) {
  const int64_t k = ((d.quarter_turns % 4) + 4) % 4;
  // With exactly one mirror the map is a reflection, its own inverse; otherwise a rotation.
  if (d.flip_x != d.flip_y) return {d.flip_x, d.flip_y, k};
  return {d.flip_x, d.flip_y, (4 - k) % 4};
}

at::Tensor apply(const Dihedral& d, const at::Tensor& planes) {
  PSAM_CHECK(planes.dim() >= 2, "geometry: a grid transformation needs planes [..., H, W]");
  std::vector<int64_t> dims;
  if (d.flip_y) dims.push_back(planes.dim() - 2);
  if (d.flip_x) dims.push_back(planes.dim() - 1);
  at::Tensor out = dims.empty() ? planes : planes.flip(dims);
  const int64_t k = ((d.quarter_turns % 4) + 4) % 4;
  return k == 0 ? out : out.rot90(k, {planes.dim() - 2, planes.dim() - 1});
}

Affine source_from_output(const Dihedral& d, int64_t h, int64_t w) {
  const int64_t k = ((d.quarter_turns % 4) + 4) % 4;
  PSAM_CHECK(k % 2 == 0 || h == w,
             "geometry: a quarter turn of a non-square image changes its shape");
  // torch.rot90 by one turn of an image whose output has `rows` rows: out[y][x] = in[x][rows-1-y].
  // After j turns the image is w x h for odd j, h x w for even j.
  Affine undo_turns;
  for (int64_t j = 1; j <= k; ++j) {
    const auto rows = static_cast<double>(j % 2 == 1 ? w : h);
    undo_turns = undo_turns * Affine{{0, -1, rows - 1, 1, 0, 0}};
  }
  const Affine mirror{{d.flip_x ? -1.0 : 1.0, 0, d.flip_x ? static_cast<double>(w - 1) : 0.0, 0,
                       d.flip_y ? -1.0 : 1.0, d.flip_y ? static_cast<double>(h - 1) : 0.0}};
  return mirror * undo_turns;
}

std::string to_string(const Dihedral& d) {
  std::string s = d.flip_x && d.flip_y ? "flip_xy"
                  : d.flip_x           ? "flip_x"
                  : d.flip_y           ? "flip_y"
                                       : "identity";
  const int64_t k = ((d.quarter_turns % 4) + 4) % 4;
  if (k != 0) s += "+rot" + std::to_string(90 * k);
  return s;
}

std::vector<Dihedral> tta_views(TtaMode mode) {
  if (mode == TtaMode::kNone) return {Dihedral{}};
  return {Dihedral{}, Dihedral{true, false, 0}, Dihedral{false, true, 0}, Dihedral{true, true, 0}};
}

at::Tensor mean_probability_over_views(const std::vector<Dihedral>& views,
                                       const std::vector<at::Tensor>& logits) {
  PSAM_CHECK(!views.empty() && views.size() == logits.size(),
             "mean_probability_over_views: one logits tensor per view");
  at::Tensor sum;
  for (size_t v = 0; v < views.size(); ++v) {
    const at::Tensor p = apply(inverse(views[v]), logits[v]).sigmoid().to(torch::kDouble);
    PSAM_CHECK(v == 0 || p.sizes() == sum.sizes(),
               "mean_probability_over_views: the views' outputs differ in shape");
    sum = v == 0 ? p : sum + p;
  }
  return (sum / static_cast<double>(views.size())).to(torch::kFloat);
}

}  // namespace psam::geometry
