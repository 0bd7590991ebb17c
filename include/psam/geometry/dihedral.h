// The symmetries of the pixel grid: mirrors and quarter turns. Exact (no resampling), so they
// serve as training augmentation and as test-time augmentation views, whose predictions
// inverse() maps back pixel for pixel.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "psam/geometry/affine.h"
#include "psam/util/names.h"

namespace psam::geometry {

// The image mirrored (flip_x: left-right, flip_y: top-bottom), then turned by quarter_turns
// times 90 degrees as torch.rot90(x, quarter_turns, dims=(-2, -1)) turns it.
struct Dihedral {
  bool flip_x = false;
  bool flip_y = false;
  int64_t quarter_turns = 0;  // 0..3

  bool is_identity() const { return !flip_x && !flip_y && quarter_turns % 4 == 0; }
  bool operator==(const Dihedral& o) const {
    return flip_x == o.flip_x && flip_y == o.flip_y && quarter_turns % 4 == o.quarter_turns % 4;
  }
};

// The transformation that undoes d: apply(inverse(d), apply(d, x)) == x.
Dihedral inverse(const Dihedral& d);
// planes [..., H, W] -> the transformed planes ([..., W, H] for an odd number of turns), on the
// planes' device.
at::Tensor apply(const Dihedral& d, const at::Tensor& planes);
// The source-from-output map of d on an h x w image (pixel indices): output pixel p shows source
// pixel map(p). An odd number of turns needs h == w (psam::Error otherwise).
Affine source_from_output(const Dihedral& d, int64_t h, int64_t w);
// "identity", "flip_x", "flip_y", "flip_xy", with "+rot90" / "+rot180" / "+rot270" for turns.
std::string to_string(const Dihedral& d);

// Test-time augmentation views: the identity first.
enum class TtaMode {
  kNone,   // the image as it is
  kFlips,  // the identity and the three mirrors (left-right, top-bottom, both)
};
inline constexpr NameTable<TtaMode, 2> kTtaModeNames = {{
    {TtaMode::kNone, "none"},
    {TtaMode::kFlips, "flips"},
}};
constexpr const auto& enum_names(TtaMode) { return kTtaModeNames; }
std::vector<Dihedral> tta_views(TtaMode mode);

// Test-time augmentation's combination: logits[v] [..., H, W] were computed on views[v] of the
// image; each is mapped back and the probabilities (sigmoid) are averaged over the views, summed
// in double so that equal maps average to exactly themselves. Float, on the logits' device.
at::Tensor mean_probability_over_views(const std::vector<Dihedral>& views,
                                       const std::vector<at::Tensor>& logits);

}  // namespace psam::geometry
