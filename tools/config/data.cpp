// Binding of the `data:` section.
#include "psam/data/loader/data_config.h"

#include "config/config.h"

namespace psam::config {

void bind(Binder& b, data::LoaderOptions& c) {
  b.field("batch_size", c.batch_size, "samples per batch");
  b.field("workers", c.workers, "threads making batches; 0 = in the training thread");
  b.field("prefetch", c.prefetch, "batches made ahead per worker");
  b.field("shuffle", c.shuffle, "shuffle the training split each epoch (by run.seed)");
  b.field("drop_last", c.drop_last, "drop a last incomplete batch");
  b.choice("annotators", c.annotators,
           "training target: one random annotator per step (reference), all, or a fixed one");
  b.field("annotator", c.annotator, "the annotator for annotators: fixed");
  b.choice("intensity", c.intensity,
           "image values to [0, 1]: auto by the store's intensity, HU window, per-image min-max");
  b.field("window_center", c.window_center, "HU window level");
  b.field("window_width", c.window_width, "HU window width");
  b.field("box_jitter", c.box_jitter, "box sides move by up to this fraction of the box size");
  b.choice("prompt", c.prompt, "mask the box prompt is taken from");
}

void bind(Binder& b, data::RangeAugment& c) {
  b.field("p", c.p, "probability per sample");
  b.field("range", c.range, "[lo, hi]: the value is drawn uniformly from it");
}

void bind(Binder& b, data::AffineAugment& c) {
  b.field("p", c.p, "probability per sample");
  b.field("rotate", c.rotate, "degrees, uniform in [-rotate, rotate]");
  b.field("scale", c.scale, "[lo, hi] zoom factor (> 1 magnifies)");
  b.field("translate", c.translate, "shift per axis, uniform, fraction of that side");
}

void bind(Binder& b, data::ElasticAugment& c) {
  b.field("p", c.p, "probability per sample");
  b.field("magnitude", c.magnitude, "root mean square displacement, pixels");
  b.field("sigma", c.sigma, "smoothness of the displacement field, pixels");
}

void bind(Binder& b, data::AugmentOptions& c) {
  b.field("flip_x", c.flip_x, "probability of a left-right mirror");
  b.field("flip_y", c.flip_y, "probability of a top-bottom mirror");
  b.field("rot90", c.rot90, "probability of a quarter turn (half turn only on non-square images)");
  b.section("affine", c.affine, "rotation, zoom and shift (images bilinear, masks nearest)");
  b.section("elastic", c.elastic, "smooth random deformation");
  b.section("brightness", c.brightness, "multiplies the [0, 1] image");
  b.section("contrast", c.contrast, "scales about the mean, within the image's range");
  b.section("gamma", c.gamma, "gamma of the min-max scaled image");
  b.section("blur", c.blur, "Gaussian blur, sigma in pixels");
  b.section("noise", c.noise, "added Gaussian noise, standard deviation");
}

void bind(Binder& b, data::DataConfig& c) {
  b.field("store", c.store, "dataset store directory");
  b.field("train_split", c.train_split, "split to train on");
  b.field("val_split", c.val_split, "split to validate on");
  b.retired("test_split", "psam eval scores eval.split");
  b.section("loader", c.loader, "how batches are made");
  b.section("augment", c.augment, "training augmentation (off by default; docs/train.md)");
}

}  // namespace psam::config
