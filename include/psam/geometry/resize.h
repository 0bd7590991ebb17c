// Plain resampling kernels for the loader's worker threads. They follow
// torch.nn.functional.interpolate's index rules (bilinear with align_corners=False, no
// antialias; legacy 'nearest') but run single-threaded on raw buffers: libtorch ops called from
// several loader threads would each fan out onto the shared intra-op pool.
#pragma once

#include <cstdint>

namespace psam::geometry {

// src [h,w] row-major -> dst [oh,ow] with row stride dst_stride.
void resize_bilinear(const float* src, int64_t h, int64_t w, float* dst, int64_t oh, int64_t ow,
                     int64_t dst_stride);
void resize_nearest(const uint8_t* src, int64_t h, int64_t w, uint8_t* dst, int64_t oh, int64_t ow,
                    int64_t dst_stride);

}  // namespace psam::geometry
