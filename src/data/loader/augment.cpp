#include "psam/data/loader/augment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "data/loader/sample_transform.h"
#include "data/rng.h"
#include "psam/geometry/warp.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

enum AugmentStream : uint64_t { kAugmentDrawStream = 13, kAugmentFieldStream = 14 };
constexpr int kAffineAttempts = 10;

void check_probability(double p, const char* key) {
  PSAM_CHECK(p >= 0 && p <= 1,
             fmt::format("data.augment.{}: a probability in [0, 1], got {}", key, p));
}

void check_range(const RangeAugment& a, const char* key, double lowest, bool positive) {
  check_probability(a.p, key);
  PSAM_CHECK(a.range.size() == 2 && a.range[0] <= a.range[1] && a.range[0] >= lowest &&
                 (!positive || a.range[0] > 0),
             fmt::format("data.augment.{}.range: expected [lo, hi] with {} <= lo <= hi{}", key,
                         lowest, positive ? " and lo > 0" : ""));
}

// Forward map (source to output) of a random rotation, zoom and shift about the image centre.
geometry::Affine draw_affine(const AffineAugment& a, Rng& rng, int64_t h, int64_t w) {
  const double angle = rng.uniform(-a.rotate, a.rotate) * M_PI / 180.0;
  const double zoom = rng.uniform(a.scale[0], a.scale[1]);
  const double tx = rng.uniform(-a.translate, a.translate) * static_cast<double>(w);
  const double ty = rng.uniform(-a.translate, a.translate) * static_cast<double>(h);
  return geometry::Affine::translation(tx, ty) *
         geometry::Affine::rotation_scale(angle, zoom, (w - 1) / 2.0, (h - 1) / 2.0);
}

// The box's pixel extent (its outer corners) lies inside the image after `forward`.
bool box_stays_inside(const geometry::Affine& forward, const Box& b, int64_t h, int64_t w) {
  const double xs[2] = {b.x0 - 0.5, b.x1 + 0.5}, ys[2] = {b.y0 - 0.5, b.y1 + 0.5};
  for (double x : xs) {
    for (double y : ys) {
      const auto [ox, oy] = forward(x, y);
      if (ox < -0.5 || oy < -0.5 || ox > w - 0.5 || oy > h - 0.5) return false;
    }
  }
  return true;
}

void intensity(const AugmentOptions& o, Rng& rng, Rng& field_rng, SamplePlanes& s) {
  std::vector<float>& v = s.unit;
  const int64_t hw = s.h * s.w;
  auto draw = [&rng](const RangeAugment& a) {
    const bool on = rng.bernoulli(a.p);
    const double value = rng.uniform(a.range[0], a.range[1]);
    return on ? std::optional<double>(value) : std::nullopt;
  };
  const auto brightness = draw(o.brightness), contrast = draw(o.contrast), gamma = draw(o.gamma),
             blur = draw(o.blur), noise = draw(o.noise);
  if (brightness)
    for (float& x : v) x *= static_cast<float>(*brightness);
  if (contrast || gamma) {
    const auto [mn_it, mx_it] = std::minmax_element(v.begin(), v.end());
    const float mn = *mn_it, mx = *mx_it;
    if (contrast) {
      double sum = 0;
      for (float x : v) sum += x;
      const auto mean = static_cast<float>(sum / static_cast<double>(v.size()));
      const auto c = static_cast<float>(*contrast);
      for (float& x : v) x = std::clamp((x - mean) * c + mean, mn, mx);
    }
    if (gamma && mx > mn) {
      const float range = mx - mn;
      for (float& x : v) x = mn + range * static_cast<float>(std::pow((x - mn) / range, *gamma));
    }
  }
  if (blur)
    for (int64_t c = 0; c < s.channels; ++c)
      geometry::gaussian_blur(v.data() + c * hw, s.h, s.w, *blur);
  if (noise)
    for (float& x : v) x += static_cast<float>(*noise * field_rng.normal());
}

}  // namespace

bool AugmentOptions::enabled() const {
  for (double p : {flip_x, flip_y, rot90, affine.p, elastic.p, brightness.p, contrast.p, gamma.p,
                   blur.p, noise.p})
    if (p > 0) return true;
  return false;
}

void AugmentOptions::validate() const {
  check_probability(flip_x, "flip_x");
  check_probability(flip_y, "flip_y");
  check_probability(rot90, "rot90");
  check_probability(affine.p, "affine.p");
  PSAM_CHECK(affine.rotate >= 0 && affine.rotate <= 180,
             "data.augment.affine.rotate: degrees in [0, 180]");
  PSAM_CHECK(affine.scale.size() == 2 && affine.scale[0] > 0 && affine.scale[0] <= affine.scale[1],
             "data.augment.affine.scale: expected [lo, hi] with 0 < lo <= hi");
  PSAM_CHECK(affine.translate >= 0 && affine.translate <= 0.5,
             "data.augment.affine.translate: a fraction of the side in [0, 0.5]");
  check_probability(elastic.p, "elastic.p");
  PSAM_CHECK(elastic.magnitude >= 0, "data.augment.elastic.magnitude: pixels >= 0");
  PSAM_CHECK(elastic.sigma > 0, "data.augment.elastic.sigma: pixels > 0");
  check_range(brightness, "brightness", 0, true);
  check_range(contrast, "contrast", 0, true);
  check_range(gamma, "gamma", 0, true);
  check_range(blur, "blur", 0, true);
  check_range(noise, "noise", 0, false);
}

Box view_box(const geometry::Dihedral& view, const Box& b, int64_t h, int64_t w) {
  const geometry::Affine forward = geometry::source_from_output(view, h, w).inverse();
  const auto [ax, ay] = forward(b.x0, b.y0);
  const auto [bx, by] = forward(b.x1, b.y1);
  // Exact: a grid symmetry maps pixel indices to pixel indices.
  return {static_cast<float>(std::min(ax, bx)), static_cast<float>(std::min(ay, by)),
          static_cast<float>(std::max(ax, bx)), static_cast<float>(std::max(ay, by))};
}

void transform_sample(const geometry::Dihedral& view, const AugmentOptions& o,
                      const AugmentKey& key, const Box& prompt_box, SamplePlanes& s) {
  const int64_t h = s.h, w = s.w, hw = h * w;
  geometry::Warp warp{h, w, geometry::source_from_output(view, h, w), {}, {}};
  const bool augment = o.enabled();
  Rng rng({key.seed, kAugmentDrawStream, static_cast<uint64_t>(key.epoch),
           static_cast<uint64_t>(key.position)});
  Rng field_rng({key.seed, kAugmentFieldStream, static_cast<uint64_t>(key.epoch),
                 static_cast<uint64_t>(key.position)});
  if (augment) {
    // The sample's own symmetry, after the view: source = view(own(p)).
    geometry::Dihedral own;
    own.flip_x = rng.bernoulli(o.flip_x);
    own.flip_y = rng.bernoulli(o.flip_y);
    const bool turn = rng.bernoulli(o.rot90);
    const int64_t k = 1 + rng.below(3);
    if (turn) own.quarter_turns = h == w ? k : 2;
    warp.map = warp.map * geometry::source_from_output(own, h, w);

    if (rng.bernoulli(o.affine.p)) {
      // The prompt's box as it stands after the symmetries, which keep it inside.
      const geometry::Affine before = warp.map.inverse();
      for (int attempt = 0; attempt < kAffineAttempts; ++attempt) {
        const geometry::Affine forward = draw_affine(o.affine, rng, h, w);
        if (box_stays_inside(forward * before, prompt_box, h, w)) {
          warp.map = warp.map * forward.inverse();
          break;
        }
      }
    }
    if (rng.bernoulli(o.elastic.p) && o.elastic.magnitude > 0) {
      std::vector<float> noise(hw);
      for (float& v : noise) v = static_cast<float>(field_rng.normal());
      warp.dx =
          geometry::smooth_field(std::move(noise), h, w, o.elastic.sigma, o.elastic.magnitude);
      noise.assign(hw, 0.0f);
      for (float& v : noise) v = static_cast<float>(field_rng.normal());
      warp.dy =
          geometry::smooth_field(std::move(noise), h, w, o.elastic.sigma, o.elastic.magnitude);
    }
  }
  if (!warp.is_identity()) {
    std::vector<float> planes(s.unit.size());
    for (int64_t c = 0; c < s.channels; ++c)
      geometry::warp_bilinear(warp, s.unit.data() + c * hw, planes.data() + c * hw);
    s.unit.swap(planes);
    std::vector<uint8_t> masks(s.masks.size());
    for (int64_t m = 0; m < s.k; ++m)
      geometry::warp_nearest(warp, s.masks.data() + m * hw, masks.data() + m * hw);
    s.masks.swap(masks);
  }
  if (augment) intensity(o, rng, field_rng, s);
}

}  // namespace psam::data
