// The `dist:` section: how the processes of a data-parallel job meet and talk. Which rank a
// process is comes from its launcher's environment (psam/dist/launch.h), not from here.
#pragma once

#include <string>

#include "psam/dist/group.h"

namespace psam::dist {

struct DistConfig {
  Backend backend = Backend::kAuto;
  double timeout_s = 300;   // rendezvous and every collective; then the run fails
  std::string master_addr;  // used when the environment has no MASTER_ADDR (e.g. Slurm)
  int master_port = 0;      // used when the environment has no MASTER_PORT; 0 = 29500
  double bucket_mb = 25;    // gradient bucket size (MiB), as PyTorch DDP's default

  void validate() const;  // psam::Error naming the field
};

}  // namespace psam::dist
