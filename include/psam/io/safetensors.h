// The .safetensors format: 8-byte little-endian header length, a JSON header (dtype, shape,
// data_offsets per tensor, optional "__metadata__" of string -> string), then raw bytes.
#pragma once

#include <map>
#include <string>

#include "psam/io/tensor_dict.h"

namespace psam::io {

struct Safetensors {
  TensorDict tensors;
  std::map<std::string, std::string> metadata;
};

Safetensors read_safetensors(const std::string& path);
// Atomic (temporary file + rename); tensors are written contiguous, CPU, in dict order.
void write_safetensors(const std::string& path, const TensorDict& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace psam::io
