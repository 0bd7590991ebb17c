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

void bind(Binder& b, data::DataConfig& c) {
  b.field("store", c.store, "dataset store directory");
  b.field("train_split", c.train_split, "split to train on");
  b.field("val_split", c.val_split, "split to validate on");
  b.retired("test_split", "psam eval scores eval.split");
  b.section("loader", c.loader, "how batches are made");
}

}  // namespace psam::config
