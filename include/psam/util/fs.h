// File helpers: atomic writes (temporary + rename, so a crash never leaves a partial file) and
// whole-file reads with clear errors.
#pragma once

#include <fstream>
#include <functional>
#include <iosfwd>
#include <string>

namespace psam {

// A file written in pieces that appears at `path` only on commit(): until then it is a temporary
// in path's directory, removed when the object is destroyed uncommitted (an error, a crash of the
// caller's loop), so path is never left partial.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // psam::Error if the temporary cannot be created
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, checks every write succeeded (psam::Error otherwise, e.g. disk full), fsyncs and
  // renames the temporary to path.
  void commit();

 private:
  std::string path_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Calls write(stream) on an AtomicFile and commits it. If write throws or the disk fills, the
// temporary is removed and path is untouched.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// Reads a whole file; psam::Error naming the path if it cannot.
std::string read_file(const std::string& path);

}  // namespace psam
