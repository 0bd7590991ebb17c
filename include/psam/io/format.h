// Which of psam's file formats a file holds, decided by its first bytes, not its extension.
#pragma once

#include <string>

namespace psam::io {

enum class FileFormat {
  kTorchZip,     // torch.save (>= 1.6) or torch.jit.save zip archive
  kTorchLegacy,  // torch.save before 1.6 (or _use_new_zipfile_serialization=False)
  kPickle,       // a plain Python pickle
  kSafetensors,
  kNpy,
  kUnknown,
};

// psam::Error naming the path when it is missing or not a regular file.
FileFormat detect_format(const std::string& path);
// "torch zip archive", "safetensors", "npy", ...
const char* format_name(FileFormat format);

}  // namespace psam::io
