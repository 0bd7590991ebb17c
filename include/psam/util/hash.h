// Content hashes for provenance (config hashes in checkpoints, dataset fingerprints).
#pragma once

#include <string>
#include <string_view>

namespace psam {

// SHA-256 of the bytes, as 64 lowercase hex digits (the same as `sha256sum`).
std::string sha256_hex(std::string_view bytes);

}  // namespace psam
