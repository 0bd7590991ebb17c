// File helpers: atomic writes (temporary + rename, so a crash never leaves a partial file) and
// whole-file reads with clear errors.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

namespace psam {

// Calls write(stream) on a temporary file in path's directory, flushes, fsyncs and renames it to
// path. If write throws or the disk fills, the temporary is removed and path is untouched.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// Reads a whole file; psam::Error naming the path if it cannot.
std::string read_file(const std::string& path);

}  // namespace psam
