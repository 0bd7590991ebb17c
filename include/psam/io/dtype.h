// The element types psam's file formats carry, and their names in each format: PyTorch
// ("float32"), torch storage classes ("FloatStorage"), safetensors ("F32") and NumPy ("f4").
#pragma once

#include <c10/core/ScalarType.h>

#include <optional>
#include <string>

namespace psam::io {

struct DtypeInfo {
  at::ScalarType type;
  const char* name;         // PyTorch name without "torch.": float32, bfloat16, bool, ...
  const char* storage;      // torch storage class: FloatStorage, ...
  const char* safetensors;  // F32, BF16, BOOL, ...
  const char* numpy;        // NumPy kind + item size without byte order: f4, u1, b1; "" if none
  size_t itemsize;
};

// nullptr for element types psam does not read or write (complex, quantized, ...).
const DtypeInfo* find_dtype(at::ScalarType type);
// Lookups by a format's name; nullptr when unknown.
const DtypeInfo* find_dtype_by_name(const std::string& name);
const DtypeInfo* find_dtype_by_storage(const std::string& storage_class);
const DtypeInfo* find_dtype_by_safetensors(const std::string& code);
const DtypeInfo* find_dtype_by_numpy(const std::string& kind_and_size);

// find_dtype that throws a psam::Error naming `what` (a file, a tensor) for unsupported types.
const DtypeInfo& dtype_info(at::ScalarType type, const std::string& what);
// "float32"; for unsupported types c10's own name.
std::string dtype_name(at::ScalarType type);

}  // namespace psam::io
