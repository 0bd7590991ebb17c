// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected, as iSCSI, ext4 and TFRecord files use).
#pragma once

#include <cstddef>
#include <cstdint>

namespace psam {

// CRC-32C of size bytes; pass a previous result as crc to continue over split data.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace psam
