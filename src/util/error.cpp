#include "psam/util/error.h"

namespace psam {

void fail(const std::string& message) { throw Error(message); }

}  // namespace psam
