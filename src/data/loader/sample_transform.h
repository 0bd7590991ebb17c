// One loader sample at the store's size while it is transformed: the [0, 1] image planes and
// every annotator's mask. The TTA view and the training augmentation act on it before the loader
// frames it (data/loader/loader.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "psam/data/loader/augment.h"
#include "psam/data/loader/boxes.h"
#include "psam/geometry/dihedral.h"

namespace psam::data {

struct SamplePlanes {
  std::vector<float> unit;     // [C,H,W]
  std::vector<uint8_t> masks;  // [K,H,W]; empty for an image without masks
  int64_t channels = 1, h = 0, w = 0, k = 0;
};

// Where the sample's augmentation draws come from: its own streams of (seed, epoch, position in
// the epoch), apart from the loader's other draws.
struct AugmentKey {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t position = 0;
};

// Moves image and masks by `view` and then by the sample's augmentation (none when options are
// off). prompt_box: the prompt's box before, in pixel indices; an affine draw that would move
// it out of the image is drawn again (up to 10 times, then the affine is left out).
void transform_sample(const geometry::Dihedral& view, const AugmentOptions& options,
                      const AugmentKey& key, const Box& prompt_box, SamplePlanes& sample);

// The box of pixel indices (x0, y0, x1, y1) moved by `view` on an h x w image.
Box view_box(const geometry::Dihedral& view, const Box& box, int64_t h, int64_t w);

}  // namespace psam::data
