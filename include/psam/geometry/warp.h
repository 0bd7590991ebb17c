// Resampling an image and its masks through one geometric map, on raw planes in the calling
// thread (the loader's workers; libtorch ops there would fan out onto the shared pool).
// Images are sampled bilinearly (order 1), masks by the nearest pixel (order 0); output pixels
// whose source lies outside the image get `fill` (images) or 0 (masks). At pixel centres (every
// mirror and quarter turn) both are exact copies.
#pragma once

#include <cstdint>
#include <vector>

#include "psam/geometry/affine.h"

namespace psam::geometry {

// Output pixel p of an h x w image shows the source at map(p + displacement(p)): an optional
// dense displacement (elastic deformation, pixels, per output pixel) and then the affine map.
struct Warp {
  int64_t h = 0, w = 0;
  Affine map;
  std::vector<float> dx, dy;  // h * w each, or both empty

  bool is_identity() const { return map.is_identity() && dx.empty(); }
  // The source coordinates of output pixel (x, y).
  std::array<double, 2> source(int64_t x, int64_t y) const;
};

// src, dst: h * w floats (one plane each, not aliased).
void warp_bilinear(const Warp& warp, const float* src, float* dst, float fill = 0.0f);
void warp_nearest(const Warp& warp, const uint8_t* src, uint8_t* dst);

// A dense displacement field of smooth random deformation: white noise blurred with a Gaussian
// of `sigma` pixels and scaled to a root mean square of `magnitude` pixels.
// noise: h * w values of standard normal noise (the caller's seeded stream).
std::vector<float> smooth_field(std::vector<float> noise, int64_t h, int64_t w, double sigma,
                                double magnitude);

// In-place separable Gaussian blur of one h x w plane (edge pixels repeated beyond the border),
// kernel radius ceil(3 sigma).
void gaussian_blur(float* plane, int64_t h, int64_t w, double sigma);

}  // namespace psam::geometry
