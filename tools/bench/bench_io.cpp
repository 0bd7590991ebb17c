// Checkpoint and array I/O throughput: writes and reads a ViT-B-sized state dict (the official
// key list when given, else 90 M synthetic float32 parameters) as .pth and .safetensors, and a
// 256 MiB array as .npy, printing MB/s. Usage: bench_io [KEY_LIST] [TMP_DIR]
#include <fmt/format.h>

#include <unistd.h>
#include <chrono>

#include <filesystem>

#include "psam/io/key_list.h"
#include "psam/io/npy.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

template <typename F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const char* what, double bytes, double s) {
  fmt::print("{:<28} {:8.1f} MB in {:6.3f} s  {:8.1f} MB/s\n", what, bytes / 1e6, s,
             bytes / 1e6 / s);
}

}  // namespace

int main(int argc, char** argv) {
  psam::set_num_threads(0);
  psam::reuse_freed_memory();
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(argc > 2 ? argv[2] : fs::temp_directory_path().string()) /
                       ("psam_bench_io_" + std::to_string(::getpid()));
  fs::create_directories(dir);

  psam::io::TensorDict weights;
  if (argc > 1) {
    for (const auto& spec : psam::io::read_key_list(argv[1]))
      weights.insert(spec.name, at::randn(spec.shape).to(spec.dtype));
  } else {
    for (int i = 0; i < 90; ++i)
      weights.insert(fmt::format("layer{}.weight", i), at::randn({1000, 1000}));
  }
  double bytes = 0;
  for (const auto& [name, t] : weights) bytes += static_cast<double>(t.nbytes());
  fmt::print("{} tensors, {:.1f} MB\n", weights.size(), bytes / 1e6);

  const std::string pth = (dir / "w.pth").string(), st = (dir / "w.safetensors").string();
  report("write_pth", bytes, seconds([&] { psam::io::write_pth(pth, weights); }));
  report("read_tensors (.pth)", bytes, seconds([&] { psam::io::read_tensors(pth); }));
  report("write_safetensors", bytes, seconds([&] { psam::io::write_safetensors(st, weights); }));
  report("read_safetensors", bytes, seconds([&] { psam::io::read_safetensors(st); }));

  const std::string npy = (dir / "a.npy").string();
  const at::Tensor array = at::rand({256, 512, 512});
  const double array_bytes = static_cast<double>(array.nbytes());
  report("write_npy", array_bytes, seconds([&] { psam::io::write_npy(npy, array); }));
  report("NpyWriter (256 rows)", array_bytes, seconds([&] {
           psam::io::NpyWriter w(npy, at::kFloat, {256, 512, 512});
           for (int64_t i = 0; i < 256; ++i) w.append(array[i]);
           w.commit();
         }));
  double checksum = 0;
  report("read_npy + sum (mmap)", array_bytes,
         seconds([&] { checksum = psam::io::read_npy(npy).sum().item<double>(); }));
  fmt::print("checksum {:.3f} (expected {:.3f})\n", checksum, array.sum().item<double>());
  fs::remove_all(dir);
  return 0;
}
