// Moving weights between a TensorDict (a loaded .pth / .safetensors file) and a torch::nn::Module,
// with PyTorch's load_state_dict(strict=True) semantics and state_dict() key order.
#pragma once

#include <torch/nn/module.h>

#include <string>

#include "psam/io/tensor_dict.h"

namespace psam::io {

// Copies every parameter and buffer of module from tensors[prefix + name] (converted to the
// module's dtype and device). Strict: a missing name, an entry under prefix that the module does
// not have, or a shape mismatch is an error; all of them are listed in one psam::Error, which
// names `source` (e.g. the file). Entries outside prefix are ignored. Nothing is copied on error.
void load_state_dict(torch::nn::Module& module, const TensorDict& tensors,
                     const std::string& prefix = "", const std::string& source = "state dict");

// The module's parameters and buffers, named prefix + name in PyTorch's state_dict() order
// (each module's own parameters, then its buffers, then its children). Tensors are detached
// and share storage with the module.
TensorDict state_dict(const torch::nn::Module& module, const std::string& prefix = "");

}  // namespace psam::io
