#include "data_lidc.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <ostream>

#include "psam/data/lidc_stats.h"
#include "psam/data/lidc_xml.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::cli {
namespace {

struct StatsArgs {
  std::string xml_root, out, json;
  double pixel_spacing = 0.7;
  bool exclude_outline = false;
};

void run_lidc_stats(const StatsArgs& a, Io io) {
  const auto archive = data::read_lidc_archive(a.xml_root);
  PSAM_CHECK(!archive.reads.empty(),
             fmt::format("--xml-root {}: no LIDC CT read found", a.xml_root));
  data::LidcStatsOptions options;
  options.pixel_spacing_mm = a.pixel_spacing;
  options.masks.include_outline = !a.exclude_outline;
  data::LidcStatsAccumulator acc(options);
  for (const auto& xml : archive.reads) acc.add(xml);
  const auto stats = acc.finish();
  const std::string source = fmt::format(
      "{} XML files ({} CT series read, {} chest-radiograph files and {} duplicate copies "
      "skipped, {} unreadable)",
      archive.files, archive.reads.size(), archive.chest_radiographs, archive.duplicates,
      archive.failed.size());
  const std::string md = stats.markdown(source);
  if (a.out.empty()) {
    io.out << md;
  } else {
    write_file_atomic(a.out, [&](std::ostream& f) { f << md; });
    io.out << fmt::format("wrote {} ({} physical nodules, {} slice samples)\n", a.out,
                          stats.physical_nodules, stats.slices);
  }
  if (!a.json.empty())
    write_file_atomic(a.json, [&](std::ostream& f) { f << stats.json() << "\n"; });
}

}  // namespace

void add_lidc_data_commands(CLI::App& data_cmd, Io io, int& rc) {
  auto stats = std::make_shared<StatsArgs>();
  auto* s = data_cmd.add_subcommand(
      "lidc-stats", "Reader disagreement statistics of the LIDC-IDRI XML reads (Markdown)");
  s->add_option("--xml-root", stats->xml_root,
                "folder with the LIDC XML files (searched recursively)")
      ->required()
      ->check(CLI::ExistingDirectory);
  s->add_option("--out", stats->out, "write the Markdown report here instead of stdout");
  s->add_option("--json", stats->json, "also write the numbers as JSON");
  s->add_option("--pixel-spacing", stats->pixel_spacing,
                "nominal in-plane spacing (mm) for millimetre sizes and grouping")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s->add_flag("--exclude-outline", stats->exclude_outline,
              "outline pixels are not part of the nodule (default: they are)");
  s->callback([stats, io, &rc] {
    run_lidc_stats(*stats, io);
    rc = 0;
  });
}

}  // namespace psam::cli
