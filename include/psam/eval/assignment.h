// Exact linear assignment (minimum-cost perfect matching of a square cost matrix), used by
// HM-IoU to match samples to annotators.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace psam::eval {

// Returns column[i], the column assigned to row i, of a permutation minimising
// sum_i cost[i, column[i]]. cost: square [n,n] floating tensor with finite values (any device;
// solved on the CPU in float64). Shortest augmenting paths with dual potentials
// (Hungarian / Jonker-Volgenant), O(n^3) time, O(n) extra memory. n = 0 gives {}.
std::vector<int64_t> linear_assignment(const at::Tensor& cost);

}  // namespace psam::eval
