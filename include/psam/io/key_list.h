// Reference lists of a model's state-dict keys, one "name<TAB>AxBxC<TAB>dtype" line per tensor
// (e.g. ../shared/golden/sam_vit_b_state_dict_keys.txt; an empty shape field is a 0-d tensor).
// A model's parameters and buffers must match such a list one to one for official checkpoints
// to load and for exported ones to load back into Python.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "psam/io/tensor_dict.h"

namespace psam::io {

struct KeySpec {
  std::string name;
  std::vector<int64_t> shape;
  at::ScalarType dtype;
};

// psam::Error naming the file and line for a malformed line or an unknown dtype.
std::vector<KeySpec> read_key_list(const std::string& path);

// One line per difference ("missing: k", "unexpected: k", "k: shape [..] expected [..]",
// "k: dtype .. expected .."), in list order then tensor order; empty when they match exactly.
std::vector<std::string> compare_key_list(const std::vector<KeySpec>& expected,
                                          const TensorDict& actual);

}  // namespace psam::io
