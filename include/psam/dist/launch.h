// Where this process sits in a data-parallel job, read from the environment the launchers set:
// torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), Slurm's srun
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the master address from MASTER_ADDR or the
// config), or neither: one process, exactly the single-process behaviour.
#pragma once

#include <cstdint>
#include <string>

#include "psam/util/names.h"

namespace psam::dist {

enum class Launcher { kNone, kTorchrun, kSlurm };
inline constexpr NameTable<Launcher, 3> kLauncherNames = {{
    {Launcher::kNone, "none"},
    {Launcher::kTorchrun, "torchrun"},
    {Launcher::kSlurm, "slurm"},
}};
constexpr const auto& enum_names(Launcher) { return kLauncherNames; }

struct Launch {
  Launcher launcher = Launcher::kNone;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // the process's index on its machine (its GPU)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The launch this process was started by. master_addr / master_port: used when the environment
// does not name them (Slurm without MASTER_ADDR; 0 / "" keep the defaults above). psam::Error
// naming the variable when one is malformed or the rank is not below the world size.
Launch launch_from_environment(const std::string& master_addr = "", int master_port = 0);

}  // namespace psam::dist
