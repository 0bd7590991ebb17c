// Timings of the LIDC pipeline: reading the XML archive, grouping readers into nodules, the
// reader statistics and, given a DICOM folder, header indexing and slice decoding.
// Usage: bench_lidc XML_ROOT [DICOM_ROOT]   (XML_ROOT: the unpacked LIDC-XML-only archive)
#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "psam/data/importers/dicom_series.h"
#include "psam/data/synthetic/lidc_stats.h"
#include "psam/io/dicom.h"
#include "psam/util/error.h"
#include "psam/util/log.h"
#include "psam/util/allocator.h"
#include "psam/util/threads.h"

namespace {

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_lidc XML_ROOT [DICOM_ROOT]\n";
    return 2;
  }
  try {
    psam::log::set_console_level("error");
    psam::set_num_threads(0);
    psam::reuse_freed_memory();
    psam::data::LidcArchive archive;
    const double read = seconds([&] { archive = psam::data::read_lidc_archive(argv[1]); });
    std::cout << fmt::format("read_lidc_archive: {} files, {} CT reads in {:.2f} s\n",
                             archive.files, archive.reads.size(), read);
    std::size_t groups = 0;
    const double group = seconds([&] {
      for (const auto& xml : archive.reads)
        groups +=
            psam::data::group_nodules(xml, {0.7, psam::data::estimate_slice_step(xml), 4}).size();
    });
    std::cout << fmt::format("group_nodules: {} physical nodules in {:.2f} s\n", groups, group);
    psam::data::LidcStatsAccumulator acc;
    const double stats = seconds([&] {
      for (const auto& xml : archive.reads) acc.add(xml);
    });
    std::cout << fmt::format("reader statistics: {} slice samples in {:.2f} s\n",
                             acc.finish().slices, stats);
    if (argc < 3) return 0;

    psam::data::DicomIndex index;
    const double indexing = seconds([&] { index = psam::data::index_dicom_tree(argv[2]); });
    std::cout << fmt::format("index_dicom_tree: {} files, {} series in {:.2f} s ({:.0f} files/s)\n",
                             index.files, index.series.size(), indexing,
                             index.files / std::max(indexing, 1e-9));
    int decoded = 0;
    const double decoding = seconds([&] {
      for (const auto& [uid, s] : index.series)
        for (const auto& slice : s.slices) {
          if (decoded == 200) return;
          psam::io::read_dicom(slice.path);
          ++decoded;
        }
    });
    std::cout << fmt::format("read_dicom: {} slices in {:.2f} s ({:.1f} ms/slice)\n", decoded,
                             decoding, 1e3 * decoding / std::max(decoded, 1));
  } catch (const psam::Error& e) {
    std::cerr << "bench_lidc: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
