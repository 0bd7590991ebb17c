// Data-parallel gradients: every rank ends a backward pass with the gradient of the loss over the
// whole global batch. There is no C++ DistributedDataParallel, so psam buckets the gradients
// itself on c10d collectives: parameters are grouped into buckets of about bucket_bytes (in
// reverse registration order, roughly the order backward produces them); a hook on each
// parameter copies its gradient into its bucket, and a full bucket is summed across ranks
// asynchronously while backward goes on, so communication overlaps computation. Buckets launch in
// index order on every rank (collectives must be issued in the same order everywhere).
//
// Each rank's gradient is weighted by its share of the global batch (its samples / all samples),
// so a loss that is a mean over samples gives exactly the single-process gradient of the whole
// batch, also when the last batch splits unevenly and a rank has none. A parameter no rank used
// keeps no gradient, as in one process.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "psam/dist/group.h"

namespace psam::dist {

class GradientSync {
 public:
  // parameters: what the optimiser updates, by name (their order must be the same on every rank).
  // overlap: hooks send each gradient as backward produces it (begin / finish); without, the
  // gradients are only reduced by reduce() (gradient accumulation: the micro-steps before the
  // last communicate nothing, and the last sends the accumulated sums).
  GradientSync(Group& group, std::vector<std::pair<std::string, at::Tensor>> parameters,
               int64_t bucket_bytes = 25 << 20, bool overlap = true);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before backward: this rank's share of the global batch, in [0, 1].
  void begin(double weight);
  // After backward (or instead of it, for a rank without samples): launches what is left, waits
  // for every bucket and writes the global gradient into each parameter's grad.
  void finish();
  // Replaces each parameter's grad by the weighted sum over ranks of the grads the ranks hold
  // now (a parameter with a grad on no rank keeps none). For a sync made without overlap.
  void reduce(double weight);

  int64_t buckets() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace psam::dist
