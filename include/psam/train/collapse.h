// Posterior collapse: a latent model whose posterior has fallen onto the prior draws (nearly) one
// mask for every z, whatever the KL weight was meant to do. The trainer warns at an epoch's end.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace psam::train {

inline constexpr double kCollapsedKl = 1e-2;       // nats: an epoch's mean KL below it
inline constexpr double kIdenticalSamples = 1e-3;  // the evaluator's diversity below it

// The warnings for an epoch's mean KL and, when validated, the samples' diversity; empty when
// neither shows a collapse.
std::vector<std::string> collapse_warnings(double mean_kl, std::optional<double> diversity);

}  // namespace psam::train
