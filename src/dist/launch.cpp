#include "psam/dist/launch.h"

#include <fmt/format.h>

#include <cstdlib>
#include <limits>
#include <optional>

#include "psam/util/error.h"

namespace psam::dist {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, int min, int max) {
  const std::string text = *env(name);
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  PSAM_CHECK(used == text.size() && value >= min && value <= max,
             fmt::format("environment: {}='{}' is not an integer in [{}, {}]", name, text, min,
                         max));
  return static_cast<int>(value);
}

}  // namespace

Launch launch_from_environment(const std::string& master_addr, int master_port) {
  Launch l;
  if (!master_addr.empty()) l.master_addr = master_addr;
  if (master_port > 0) l.master_port = master_port;
  constexpr int kMax = std::numeric_limits<int>::max();
  if (env("RANK") || env("WORLD_SIZE")) {
    PSAM_CHECK(env("RANK") && env("WORLD_SIZE"),
               "environment: RANK and WORLD_SIZE go together (torchrun sets both)");
    l.launcher = Launcher::kTorchrun;
    l.world_size = env_int("WORLD_SIZE", 1, kMax);
    l.rank = env_int("RANK", 0, l.world_size - 1);
    l.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, kMax) : 0;
  } else if (env("SLURM_PROCID") && env("SLURM_NTASKS")) {
    l.launcher = Launcher::kSlurm;
    l.world_size = env_int("SLURM_NTASKS", 1, kMax);
    l.rank = env_int("SLURM_PROCID", 0, l.world_size - 1);
    l.local_rank = env("SLURM_LOCALID") ? env_int("SLURM_LOCALID", 0, kMax) : 0;
  } else {
    return l;
  }
  if (const auto addr = env("MASTER_ADDR")) l.master_addr = *addr;
  if (env("MASTER_PORT")) l.master_port = env_int("MASTER_PORT", 1, 65535);
  return l;
}

}  // namespace psam::dist
