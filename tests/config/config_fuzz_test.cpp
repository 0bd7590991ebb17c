// The config fuzz target replayed over its committed inputs (see fuzz/replay.h).
#include "fuzz/replay.h"

namespace psam::fuzz {
namespace {

TEST(ConfigFuzzInputs, ReadOrRefused) { replay_inputs("config"); }

}  // namespace
}  // namespace psam::fuzz
