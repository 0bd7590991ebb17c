// NumPy .npy files (format versions 1-3; little-endian bool, uint8, int8, int16, int32, int64,
// float16, float32, float64; C order; Fortran order is refused with a clear error).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace psam::io {

// Memory-maps the file read-only; the tensor keeps the mapping alive. Writing to the tensor is
// not allowed (clone it first).
at::Tensor read_npy(const std::string& path);
// Atomic (temporary file + rename).
void write_npy(const std::string& path, const at::Tensor& tensor);

// Streams a large array to disk without holding it in memory: the shape's first dimension is
// given up front and rows are appended in order; commit() checks the count and renames the
// temporary file into place. Destroyed without commit() the temporary is removed.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, at::ScalarType dtype, std::vector<int64_t> shape);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  // rows: shape [n, shape[1:]...] (or shape[1:] for one row), dtype as declared.
  void append(const at::Tensor& rows);
  void commit();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace psam::io
