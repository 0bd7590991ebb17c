#include "psam/geometry/affine.h"

#include <cmath>

#include "psam/util/error.h"

namespace psam::geometry {

Affine Affine::operator*(const Affine& n) const {
  const auto& a = m;
  const auto& b = n.m;
  return {{a[0] * b[0] + a[1] * b[3], a[0] * b[1] + a[1] * b[4], a[0] * b[2] + a[1] * b[5] + a[2],
           a[3] * b[0] + a[4] * b[3], a[3] * b[1] + a[4] * b[4], a[3] * b[2] + a[4] * b[5] + a[5]}};
}

Affine Affine::inverse() const {
  const double det = m[0] * m[4] - m[1] * m[3];
  PSAM_CHECK(det != 0 && std::isfinite(det), "geometry: the affine map is singular");
  const double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det, i4 = m[0] / det;
  return {{i0, i1, -(i0 * m[2] + i1 * m[5]), i3, i4, -(i3 * m[2] + i4 * m[5])}};
}

bool Affine::is_identity() const { return m == Affine{}.m; }

Affine Affine::translation(double tx, double ty) { return {{1, 0, tx, 0, 1, ty}}; }

Affine Affine::rotation_scale(double radians, double scale, double cx, double cy) {
  // With y down, a counterclockwise turn on screen is (x, y) -> (x cos + y sin, -x sin + y cos).
  const double c = std::cos(radians) * scale, s = std::sin(radians) * scale;
  return translation(cx, cy) * Affine{{c, s, 0, -s, c, 0}} * translation(-cx, -cy);
}

}  // namespace psam::geometry
