// The golden Probabilistic SAM weights (sam_<name>.pth + probsam_<name>.pth) as one state dict
// with psam's names, which are the reference module's: sam.*, prior_net.*, posterior_net.*,
// fcomb.z_projector.*.
#pragma once

#include <string>

#include "psam/io/pth.h"
#include "support/golden.h"

namespace psam::support {

inline io::TensorDict golden_prob_sam_state(const GoldenSet& set, const std::string& prefix = "") {
  io::TensorDict out;
  for (const auto& [name, t] : io::read_tensors(set.file("sam", ".pth")))
    out.insert(prefix + "sam." + name, t);
  // probsam_<name>.pth holds {"prior": ..., "posterior": ..., "z_projector": ...}.
  for (const auto& [name, t] : io::read_tensors(set.file("probsam", ".pth"))) {
    const auto dot = name.find('.');
    const auto part = name.substr(0, dot);
    const std::string renamed = part == "prior"       ? "prior_net"
                                : part == "posterior" ? "posterior_net"
                                                      : "fcomb.z_projector";
    out.insert(prefix + renamed + name.substr(dot), t);
  }
  return out;
}

}  // namespace psam::support
