// One exception type for every user-facing failure: a one-line message that names the file,
// key or argument at fault and what was expected. The CLI prints it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace psam {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void fail(const std::string& message);

// Throws psam::Error(message) unless cond holds; message is built only on failure.
#define PSAM_CHECK(cond, message)                    \
  do {                                               \
    if (!(cond)) ::psam::fail(message);              \
  } while (0)

}  // namespace psam
