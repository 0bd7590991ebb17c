// PyTorch checkpoint archives (.pth / .pt): the zip container torch.save writes, read with
// psam's safe unpickler (so torch.save(model.state_dict()) OrderedDicts with _metadata load,
// which torch::pickle_load cannot do) and written so Python's torch.load(weights_only=True) reads it.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>

#include "psam/io/tensor_dict.h"

namespace psam::io {

// The whole pickled object of a torch.save archive (tensors on CPU).
c10::IValue read_pth(const std::string& path);

// Every tensor in a .pth/.pt (nested dicts flattened with '.', lists by index) or .safetensors
// file, chosen by content, not by extension. Non-tensor leaves (epoch numbers, strings) are skipped.
TensorDict read_tensors(const std::string& path);

// Flattens the tensors of an unpickled object: {"a": {"b": t}} -> "a.b".
TensorDict flatten_tensors(const c10::IValue& obj);

// Writes obj (dicts / lists / tuples / scalars / strings / tensors) as a torch.save archive.
// The file appears atomically: written to a temporary beside it and renamed.
void write_pth(const std::string& path, const c10::IValue& obj);
// A flat state dict (a plain dict, in order), as Python's load_state_dict expects.
void write_pth(const std::string& path, const TensorDict& tensors);

}  // namespace psam::io
