// Training augmentation (the `data.augment:` section): one random transformation per sample and
// step, applied at the store's size to the image, every annotator's mask and so to the prompt
// mask and its box, before anything else the loader does (the SAM frame, the raw image the
// latent nets see). Geometry first (mirrors, quarter turns, affine, elastic; images bilinear,
// masks nearest, outside the image 0), then intensity on the [0, 1] image (brightness, contrast,
// gamma, blur, noise; one factor for all channels of an RGB image). Every draw comes from the
// sample's own stream (seed, epoch, position in the epoch), so batches do not depend on workers
// and resume bit-exactly. Off unless a probability is set; the loaders of validation and
// evaluation never augment.
#pragma once

#include <cstdint>
#include <vector>

namespace psam::data {

// A value drawn uniformly from range = [lo, hi] with probability p.
struct RangeAugment {
  double p = 0;
  std::vector<double> range;
};

struct AffineAugment {
  double p = 0;
  double rotate = 15;                        // degrees, uniform in [-rotate, rotate]
  std::vector<double> scale = {0.85, 1.25};  // zoom factor range (> 1 magnifies)
  double translate = 0.05;                   // shift per axis, uniform, fraction of that side
};

struct ElasticAugment {
  double p = 0;
  double magnitude = 2.0;  // root mean square displacement in pixels
  double sigma = 4.0;      // smoothness: Gaussian sigma of the displacement field, pixels
};

struct AugmentOptions {
  double flip_x = 0;  // probability of a left-right mirror
  double flip_y = 0;  // probability of a top-bottom mirror
  // Probability of a quarter turn: 90, 180 or 270 degrees on square images; on non-square ones
  // (where a 90 degree turn would change the shape) the half turn only.
  double rot90 = 0;
  AffineAugment affine;
  ElasticAugment elastic;
  RangeAugment brightness{0, {0.75, 1.25}};  // multiplies the values
  RangeAugment contrast{0, {0.75, 1.25}};    // scales about the mean, kept in the image's range
  RangeAugment gamma{0, {0.7, 1.5}};         // on values min-max scaled to [0, 1], then back
  RangeAugment blur{0, {0.5, 1.0}};          // Gaussian sigma in pixels
  RangeAugment noise{0, {0.0, 0.05}};        // standard deviation of added Gaussian noise

  bool enabled() const;
  // psam::Error naming the first invalid field (as its key under data.augment).
  void validate() const;
};

}  // namespace psam::data
