// 2-D affine maps between pixel grids. Coordinates are pixel indices: pixel (x, y) has its
// centre at (x, y), so a left-right mirror of a w-column image is x -> (w - 1) - x, exactly, and
// every map made of mirrors and quarter turns sends pixel centres to pixel centres.
#pragma once

#include <array>
#include <cstdint>

namespace psam::geometry {

// (x, y) -> (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]).
struct Affine {
  std::array<double, 6> m = {1, 0, 0, 0, 1, 0};

  std::array<double, 2> operator()(double x, double y) const {
    return {m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]};
  }
  // (this * next)(p) = this(next(p)): next first.
  Affine operator*(const Affine& next) const;
  Affine inverse() const;  // psam::Error for a singular map
  bool is_identity() const;

  static Affine translation(double tx, double ty);
  // Rotation by `radians` (counterclockwise as seen on screen, y pointing down) and isotropic
  // scaling by `scale`, both about (cx, cy).
  static Affine rotation_scale(double radians, double scale, double cx, double cy);
};

}  // namespace psam::geometry
