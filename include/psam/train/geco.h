// GECO (Rezende & Viola 2018, "Taming VAEs"), as the Hierarchical Probabilistic U-Net uses it:
// minimise KL subject to the reconstruction constraint C = rec - kappa <= 0 with a Lagrange
// multiplier lambda, i.e. KL + lambda * C. psam minimises that divided by lambda,
//   rec + (kl_weight / lambda) * KL   (+ the constant -kappa, dropped),
// the same direction of descent, but the reconstruction keeps its usual weight: learning rate,
// gradient clipping and the logged loss keep their meaning, and lambda = 1 (the start) is the
// plain loss. lambda > 1 relaxes the KL (the reconstruction misses its target), lambda < 1
// tightens it. kl_weight is beta after the warm-up, as without GECO.
//
// After each optimiser step, without gradients, from the step's C = rec - kappa:
//   C_ma <- C                                    (first step)
//   C_ma <- alpha * C_ma + (1 - alpha) * C       (later steps)
//   lambda <- clamp(lambda * exp(speed * C_ma), lambda_min, lambda_max)
#pragma once

#include <cstdint>

namespace psam::train {

struct GecoConfig {
  // Target of rec = bce_weight * BCE + dice_weight * Dice as the step computes it (reductions
  // as configured). GECO only keeps z informative when kappa is below what the model reaches
  // without z: read train/bce + train/dice of a run without KL control and take about 0.9x.
  double kappa = 0.1;
  double alpha = 0.99;  // decay of C's moving average
  double speed = 1.0;   // lambda's multiplicative update rate per unit of C_ma
  double lambda_min = 1e-3;
  double lambda_max = 1e3;

  void validate() const;  // psam::Error naming the first invalid key (loss.geco_*)
};

// The multiplier and C's moving average; checkpointed with the run.
struct GecoState {
  double lambda = 1.0;
  double c_ma = 0.0;
  int64_t updates = 0;  // steps folded into c_ma so far (0: c_ma not started)
};

// One update after an optimiser step whose constraint C = rec - kappa was `constraint`.
void geco_update(GecoState& state, const GecoConfig& config, double constraint);

}  // namespace psam::train
