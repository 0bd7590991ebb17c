// Dropout for MC-dropout SAM (models/mc_dropout_sam): applied in the mask decoder only where a
// caller passes one, whatever the module's train/eval mode, so a model decides per call whether
// its output is a dropout sample or the deterministic decoding. Without one the decoder computes
// exactly what the official SAM computes.
//
// Keep masks are i.i.d. Bernoulli(1 - rate) per element (every row of a batch independent), kept
// values scaled by 1 / (1 - rate) (inverted dropout, as torch.nn.Dropout), drawn from a given
// generator so that draws are reproducible. A caller may supply the masks instead (e.g. to replay
// the draws of one batched call row by row).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Optional.h>

#include <functional>

namespace psam::sam {

class Dropout {
 public:
  // A keep mask (0 / 1 values) of `shape` with `options`, one call per dropout site.
  using KeepMasks = std::function<at::Tensor(at::IntArrayRef shape, const at::TensorOptions&)>;

  // rate in [0, 1): Bernoulli masks from `generator` (nullopt: the device's default generator).
  explicit Dropout(double rate, c10::optional<at::Generator> generator = c10::nullopt);
  // rate in [0, 1) with masks from `masks`.
  Dropout(double rate, KeepMasks masks);

  // x * keep / (1 - rate); x itself for rate 0.
  at::Tensor operator()(const at::Tensor& x) const;
  double rate() const { return rate_; }
  // The generator the masks come from; nullopt for the device's default or given masks.
  const c10::optional<at::Generator>& generator() const { return generator_; }

 private:
  double rate_;
  c10::optional<at::Generator> generator_;
  KeepMasks masks_;
};

// Applies `dropout` where given, else returns x (no dropout site without a Dropout).
inline at::Tensor maybe_dropout(const Dropout* dropout, const at::Tensor& x) {
  return dropout ? (*dropout)(x) : x;
}

}  // namespace psam::sam
