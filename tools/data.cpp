// `psam data <sub>`: dataset stores. One registration block per sub-subcommand.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <sstream>

#include "cli.h"
#include "cli_checks.h"
#include "data_args.h"
#include "data_lidc.h"
#include "data_preview.h"
#include "psam/data/importers/import_folder.h"
#include "psam/data/importers/import_knegt.h"
#include "psam/data/importers/import_lidc_png.h"
#include "psam/data/importers/import_refuge.h"
#include "psam/data/store/check.h"
#include "psam/data/store/splits.h"
#include "psam/data/synthetic/annotator_stats.h"
#include "psam/data/synthetic/synthetic.h"
#include "psam/util/error.h"

namespace psam::cli {
namespace {

// With the LIDC-IDRI readers' values (docs/lidc_reader_stats.md: all 1018 CT reads, per slice
// sample) beside them, so a synthetic set can be compared at a glance.
void print_stats(std::ostream& out, const data::AnnotatorStats& s) {
  out << fmt::format(
      "annotator statistics over {} samples x {} annotators (LIDC-IDRI readers):\n"
      "  pairwise IoU, both marked      {:.3f}  (0.707)\n"
      "  pairwise IoU, all pairs        {:.3f}  (0.502; empty-empty = 1, empty-marked = 0)\n"
      "  empty annotator masks          {:.3f}  (0.372)\n"
      "  samples nobody marked          {:.3f}  (0)\n"
      "  mean area of a marked mask     {:.1f} px  (190 px)\n",
      s.samples, s.annotators, s.pairwise_iou_marked, s.pairwise_iou_all, s.empty_share,
      s.all_empty_share, s.mean_marked_area);
}

void add_synth(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("synth", "Generate the synthetic nodule benchmark");
  auto output = std::make_shared<StoreOutput>();
  auto o = std::make_shared<data::SynthOptions>();
  auto marked_optional = std::make_shared<bool>(false);
  output->add_to(cmd);
  cmd->add_option("--n", o->count, "number of samples")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_option("--size", o->size, "patch side in pixels")->capture_default_str();
  cmd->add_option("--height", o->height, "rows of non-square patches (0 = --size)");
  cmd->add_option("--width", o->width, "columns of non-square patches (0 = --size)");
  cmd->add_option("--annotators", o->annotators, "annotator masks per sample")
      ->capture_default_str();
  cmd->add_option("--oracle", o->oracle_draws, "extra draws in oracle_masks.npy (0: none)")
      ->capture_default_str();
  cmd->add_option("--per-patient", o->samples_per_patient, "samples sharing a patient id")
      ->capture_default_str();
  cmd->add_option("--radius-min", o->radius_min, "smallest mean nodule radius (px)")
      ->capture_default_str();
  cmd->add_option("--radius-max", o->radius_max, "largest mean nodule radius (px)")
      ->capture_default_str();
  cmd->add_option("--irregularity", o->irregularity, "outline harmonic amplitude")
      ->capture_default_str();
  cmd->add_option("--edge-min", o->edge_min, "narrowest fuzzy edge (px)")->capture_default_str();
  cmd->add_option("--edge-max", o->edge_max, "widest fuzzy edge (px)")->capture_default_str();
  cmd->add_option("--subsolid", o->subsolid_share, "share of ground-glass nodules")
      ->capture_default_str();
  cmd->add_option("--attached", o->attached_prob, "share with an attached structure")
      ->capture_default_str();
  cmd->add_option("--include-attached", o->include_attached_prob,
                  "chance an annotator includes the attached structure")
      ->capture_default_str();
  cmd->add_option("--equivocal", o->equivocal_share, "share of equivocal lesions")
      ->capture_default_str();
  cmd->add_option("--empty-clear", o->empty_prob_clear,
                  "chance an annotator leaves a clear lesion unmarked")
      ->capture_default_str();
  cmd->add_option("--empty-equivocal", o->empty_prob_equivocal,
                  "chance an annotator leaves an equivocal lesion unmarked")
      ->capture_default_str();
  cmd->add_flag("--allow-unmarked", *marked_optional,
                "do not require at least one annotator to mark each sample");
  cmd->add_option("--level-min", o->level_min, "lowest membership threshold")
      ->capture_default_str();
  cmd->add_option("--level-max", o->level_max, "highest membership threshold")
      ->capture_default_str();
  cmd->add_option("--wobble", o->reader_wobble, "annotator outline deviation (px)")
      ->capture_default_str();
  cmd->callback([=, &rc] {
    o->require_marked = !*marked_optional;
    const data::AnnotatorStats stats =
        data::generate_synthetic(output->dir, *o, output->split.options(), output->force);
    io.out << fmt::format("wrote {} synthetic samples of {}x{} to {}\n", o->count, o->rows(),
                          o->cols(), output->dir);
    print_stats(io.out, stats);
    rc = 0;
  });
}

void add_check(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("check", "Validate a dataset store");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("DIR", *dir, "store directory")->required();
  cmd->callback([=, &rc] {
    const data::CheckReport report = data::check_store(*dir);
    for (const auto& line : report.notes) io.out << "  " << line << "\n";
    for (const auto& line : report.warnings) io.out << "warning: " << line << "\n";
    for (const auto& line : report.errors) io.err << "error: " << line << "\n";
    if (report.ok()) {
      io.out << fmt::format("{}: OK\n", *dir);
      rc = 0;
    } else {
      io.err << fmt::format("{}: {} problem(s)\n", *dir, report.errors.size());
      rc = 1;
    }
  });
}

void add_split(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("split", "Rewrite a store's splits.json");
  auto dir = std::make_shared<std::string>();
  auto split = std::make_shared<SplitArgs>();
  cmd->add_option("DIR", *dir, "store directory")->required();
  split->add_to(cmd);
  cmd->callback([=, &rc] {
    data::resplit_store(*dir, split->options());
    io.out << fmt::format("{}: new {}-level split written\n", *dir, split->by);
    rc = 0;
  });
}

void add_import_knegt(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("import-knegt",
                                  "Import the LIDC pickle of the Probabilistic U-Net PyTorch port");
  auto file = std::make_shared<std::string>();
  auto output = std::make_shared<StoreOutput>();
  auto o = std::make_shared<data::KnegtImportOptions>();
  cmd->add_option("FILE", *file, "the pickle (e.g. data_lidc.pickle)")->required();
  output->add_to(cmd);
  cmd->add_option("--intensity", o->intensity, "image values: auto, unit ([0,1]) or hu")
      ->check(CLI::IsMember({"auto", "unit", "hu"}))
      ->capture_default_str();
  cmd->add_option("--metadata", o->metadata_csv,
                  "LIDC-IDRI_MetaData.csv to map series UIDs to patients");
  cmd->callback([=, &rc] {
    o->split = output->split.options();
    o->overwrite = output->force;
    const data::KnegtImportResult r = data::import_knegt(*file, output->dir, *o);
    io.out << fmt::format(
        "wrote {} samples of {} patients ({} annotators, {}x{}) to {}\n"
        "image values [{:g}, {:g}] recorded as '{}'; patient ids from {}\n",
        r.samples, r.patients, r.annotators, r.height, r.width, output->dir, r.image_min,
        r.image_max, r.intensity, r.patient_id_from);
    rc = 0;
  });
}

void add_import_lidc_png(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("import-lidc-png", "Import DeepMind's LIDC-IDRI PNG crops");
  auto root = std::make_shared<std::string>();
  auto output = std::make_shared<StoreOutput>();
  auto o = std::make_shared<data::LidcPngImportOptions>();
  cmd->add_option("ROOT", *root, "folder with images/ and gt/ (or split folders holding them)")
      ->required();
  output->add_to(cmd);
  cmd->add_option("--crop", o->crop, "centre crop side in pixels (128 for the usual benchmark)")
      ->check(non_negative())
      ->capture_default_str();
  auto resplit = std::make_shared<bool>(false);
  cmd->add_flag("--resplit", *resplit,
                "ignore the source's split folders and split by --split-by/--fractions");
  cmd->callback([=, &rc] {
    o->split = output->split.options();
    o->overwrite = output->force;
    o->keep_folder_split = !*resplit;
    const data::LidcPngImportResult r = data::import_lidc_png(*root, output->dir, *o);
    io.out << fmt::format("wrote {} crops of {} patients ({} annotators, {}x{}) to {}\nsplit: {}\n",
                          r.samples, r.patients, r.annotators, r.height, r.width, output->dir,
                          r.split);
    rc = 0;
  });
}

void print_report(std::ostream& out, const data::ImageImportReport& r, const std::string& dir) {
  const auto lines = data::report_lines(r);
  out << fmt::format("wrote {} to {}\n", lines.front(), dir);
  for (size_t i = 1; i < lines.size(); ++i) out << lines[i] << "\n";
}

void add_import_folder(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand("import-folder",
                                  "Import a folder of images and one folder of masks per rater");
  auto root = std::make_shared<std::string>();
  auto output = std::make_shared<StoreOutput>();
  auto image = std::make_shared<ImageImportArgs>();
  auto o = std::make_shared<data::FolderImportOptions>();
  cmd->add_option("ROOT", *root, "the dataset folder")->required();
  output->add_to(cmd);
  cmd->add_option("--images", o->images,
                  "image files, a path pattern below ROOT with {stem} (the sample id), * and ?")
      ->capture_default_str();
  cmd->add_option("--masks", o->masks, "mask files, a path pattern with {rater} and {stem}")
      ->capture_default_str();
  cmd->add_option("--raters", o->raters, "the raters in store order (default: every one found)")
      ->delimiter(',');
  cmd->add_option("--patient-regex", o->patient_regex,
                  "patient id = the first group (else the match) of this regex in the stem; "
                  "default: one patient per image");
  image->add_to(cmd, "centre crop HxW (or SxS for S), before --resize");
  cmd->callback([=, &rc] {
    data::FolderImportOptions options = *o;
    image->apply(*output, options);
    data::ImageImportReport partial;
    data::ImageImportReport report;
    try {
      report = data::import_folder(*root, output->dir, options, &partial);
    } catch (const Error&) {
      // What was found is what the user needs to see when nothing could be imported.
      for (const auto& line : data::found_lines(partial)) io.out << line << "\n";
      throw;
    }
    print_report(io.out, report, output->dir);
    rc = 0;
  });
}

void add_import_refuge(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand(
      "import-refuge", "Import REFUGE2 multi-rater (Training-400/, Test-400/ case folders)");
  auto root = std::make_shared<std::string>();
  auto output = std::make_shared<StoreOutput>();
  auto image = std::make_shared<ImageImportArgs>();
  auto o = std::make_shared<data::RefugeImportOptions>();
  auto resplit = std::make_shared<bool>(false);
  cmd->add_option("ROOT", *root,
                  "the folder holding Training-400/ (and Validation-400/, Test-400/)")
      ->required();
  output->add_to(cmd);
  cmd->add_option("--target", o->target, "the structure to store: cup or disc")
      ->check(CLI::IsMember({"cup", "disc"}))
      ->capture_default_str();
  cmd->add_flag("--resplit", *resplit,
                "ignore the set folders and split by --split-by/--fractions");
  image->add_to(cmd, "crop HxW (or SxS) around the optic disc centre, before --resize");
  cmd->callback([=, &rc] {
    data::RefugeImportOptions options = *o;
    image->apply(*output, options);
    options.keep_folder_split = !*resplit;
    print_report(io.out, data::import_refuge(*root, output->dir, options), output->dir);
    rc = 0;
  });
}

}  // namespace

void add_data_command(CLI::App& app, Io io, int& rc) {
  auto* data = app.add_subcommand("data", "Dataset stores: generate, import, check, split");
  data->require_subcommand(1);
  add_synth(*data, io, rc);
  add_check(*data, io, rc);
  add_split(*data, io, rc);
  add_import_knegt(*data, io, rc);
  add_import_lidc_png(*data, io, rc);
  add_import_folder(*data, io, rc);
  add_import_refuge(*data, io, rc);
  add_lidc_data_commands(*data, io, rc);
  add_preview_command(*data, io, rc);
}

}  // namespace psam::cli
