#include "data_lidc.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <memory>
#include <ostream>

#include "data_args.h"
#include "psam/data/importers/import_lidc_store.h"
#include "psam/data/synthetic/lidc_stats.h"
#include "psam/data/importers/lidc_xml.h"
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

void add_import_lidc(CLI::App& data_cmd, Io io, int& rc) {
  auto* cmd = data_cmd.add_subcommand(
      "import-lidc", "Import LIDC-IDRI (DICOM series + XML reads) as nodule patches into a store");
  auto dicom_root = std::make_shared<std::string>();
  auto xml_root = std::make_shared<std::string>();
  auto output = std::make_shared<StoreOutput>();
  auto o = std::make_shared<data::LidcStoreImportOptions>();
  auto exclude_outline = std::make_shared<bool>(false);
  cmd->add_option("--dicom-root", *dicom_root, "folder with the CT DICOM files (recursive)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--xml-root", *xml_root, "folder with the LIDC XML reads (recursive)")
      ->required()
      ->check(CLI::ExistingDirectory);
  output->add_to(cmd);
  cmd->add_option("--patch-spacing", o->patches.patch_spacing_mm,
                  "in-plane spacing of the patches in mm (<= 0 keeps the CT's)")
      ->capture_default_str();
  cmd->add_option("--patch-size", o->patches.patch_size, "patch side in pixels")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--max-readers", o->patches.max_readers, "mask slots K per patch")
      ->check(positive())
      ->capture_default_str();
  cmd->add_flag("--exclude-outline", *exclude_outline,
                "outline pixels are not part of the nodule (default: they are)");
  cmd->callback([=, &rc] {
    o->patches.masks.include_outline = !*exclude_outline;
    o->split = output->split.options();
    o->overwrite = output->force;
    const data::LidcStoreImportResult r =
        data::import_lidc_store(*dicom_root, *xml_root, output->dir, *o);
    const data::LidcImportReport& rep = r.report;
    io.out << fmt::format(
        "wrote {} patches of {} patients ({} nodules, {} readers per patch) to {}\n"
        "{} of {} XML reads had their DICOM series; {} empty reader masks; rois matched by SOP "
        "UID {}, by z {}, unmatched {}; {} slices undecodable\n",
        r.samples, r.patients, rep.nodules, o->patches.max_readers, output->dir, rep.series_found,
        rep.xml_reads, r.empty_masks, rep.rois_by_sop, rep.rois_by_z, rep.rois_unmatched,
        rep.undecodable.size());
    rc = 0;
  });
}

}  // namespace

void add_lidc_data_commands(CLI::App& data_cmd, Io io, int& rc) {
  add_import_lidc(data_cmd, io, rc);
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
      ->check(positive())
      ->capture_default_str();
  s->add_flag("--exclude-outline", stats->exclude_outline,
              "outline pixels are not part of the nodule (default: they are)");
  s->callback([stats, io, &rc] {
    run_lidc_stats(*stats, io);
    rc = 0;
  });
}

}  // namespace psam::cli
