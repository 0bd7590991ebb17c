// PyTorch checkpoint archives (.pth / .pt): the zip container torch.save writes, read with
// psam's safe unpickler (so torch.save(model.state_dict()) OrderedDicts with _metadata load,
// which torch::pickle_load cannot do) and written so Python's torch.load(weights_only=True) reads
// it.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>

#include "psam/io/pickle/pickle.h"
#include "psam/io/tensor_dict.h"

namespace psam::io {

// The whole pickled object of a torch.save archive (tensors on CPU; numpy arrays and scalars in
// it become tensors too). Tensors that viewed one storage in Python share one here. `notes`, when
// given, records which dicts were OrderedDicts and their _metadata. Refused with a psam::Error
// that says what to do: legacy (pre-1.6) torch.save files, TorchScript archives, corrupt zips.
c10::IValue read_pth(const std::string& path, DictNotes* notes = nullptr);

// Every tensor in a .pth/.pt (nested dicts flattened with '.', lists by index) or .safetensors
// file, chosen by content, not by extension. Non-tensor leaves (epoch numbers, strings) are
// skipped.
TensorDict read_tensors(const std::string& path);

// Flattens the tensors of an unpickled object: {"a": {"b": t}} -> "a.b", {"l": [t, u]} -> "l.0",
// "l.1"; a bare tensor is named "".
TensorDict flatten_tensors(const c10::IValue& obj);

// Writes obj (dicts / lists / tuples / scalars / strings / tensors, see io::pickle) as a
// torch.save archive; every tensor is stored contiguous in its own storage. The file appears
// atomically: written to a temporary beside it and renamed.
void write_pth(const std::string& path, const c10::IValue& obj);
// A flat state dict (a plain dict, in order), as Python's load_state_dict expects.
void write_pth(const std::string& path, const TensorDict& tensors);

}  // namespace psam::io
