#include "psam/data/importers/import_lidc_store.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>

#include "psam/data/importers/lidc_xml.h"
#include "psam/data/store/store.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
namespace {

SampleMeta sample_meta(const LidcPatchInfo& p) {
  SampleMeta m;
  m.id = p.id;
  m.patient_id = p.patient_id;
  m.series_uid = p.series_uid;
  m.z = p.z;
  m.extra_json = nlohmann::json{
      {"study_uid", p.study_uid},
      {"sop_uid", p.sop_uid},
      {"slice_index", p.slice_index},
      {"nodule", p.nodule},
      {"readers", p.readers},
      {"readers_on_slice", p.readers_on_slice},
      {"reader_ids", p.reader_ids},
      {"reader_nodule_ids", p.reader_nodule_ids},
      {"malignancy", p.malignancy},
      {"pixel_spacing", p.pixel_spacing},
      {"slice_thickness", p.slice_thickness},
      {"patch_spacing", p.patch_spacing},
      {"centre", p.centre},
      {"xml",
       p.xml_path}}.dump();
  return m;
}

nlohmann::json provenance(const std::string& dicom_root, const std::string& xml_root,
                          const LidcImportOptions& o, const LidcImportReport& r) {
  namespace fs = std::filesystem;
  return {{"importer", "psam data import-lidc"},
          {"dicom_root", fs::absolute(dicom_root).string()},
          {"xml_root", fs::absolute(xml_root).string()},
          {"patch_spacing_mm", o.patch_spacing_mm},
          {"patch_size", o.patch_size},
          {"max_readers", o.max_readers},
          {"include_outline", o.masks.include_outline},
          {"outside_hu", o.outside_hu},
          {"report",
           {{"xml_reads", r.xml_reads},
            {"series_found", r.series_found},
            {"missing_series", r.missing_series},
            {"nodules", r.nodules},
            {"dropped_readers", r.dropped_readers},
            {"rois_by_sop", r.rois_by_sop},
            {"rois_by_z", r.rois_by_z},
            {"rois_unmatched", r.rois_unmatched},
            {"undecodable", r.undecodable}}}};
}

}  // namespace

LidcStoreImportResult import_lidc_store(const std::string& dicom_root, const std::string& xml_root,
                                        const std::string& out_dir,
                                        const LidcStoreImportOptions& options) {
  LidcArchive archive = read_lidc_archive(xml_root);
  PSAM_CHECK(!archive.reads.empty(), fmt::format("{}: no LIDC CT read (XML) found", xml_root));
  const LidcImporter importer(std::move(archive.reads), index_dicom_tree(dicom_root),
                              options.patches);
  PSAM_CHECK(importer.planned() > 0,
             fmt::format("no nodule patches: {} of {} XML reads have their DICOM series under {}; "
                         "{} rois matched no slice",
                         importer.report().series_found, importer.report().xml_reads, dicom_root,
                         importer.report().rois_unmatched));

  DatasetInfo info;
  info.name = "lidc-idri";
  info.count = importer.planned();
  info.annotators = options.patches.max_readers;
  info.height = info.width = options.patches.patch_size;
  info.intensity = Intensity::kHu;
  DatasetWriter writer(out_dir, info, 0, options.overwrite);
  LidcStoreImportResult result;
  std::set<std::string> patients;
  importer.run([&](LidcPatch&& patch) {
    result.empty_masks += patch.masks.flatten(1).amax(1).eq(0).sum().item<int64_t>();
    patients.insert(patch.info.patient_id);
    writer.add(patch.image, patch.masks, sample_meta(patch.info));
  });
  result.report = importer.report();
  writer.set_provenance(provenance(dicom_root, xml_root, options.patches, result.report).dump());
  writer.commit(make_splits(writer.meta(), options.split));
  result.samples = writer.added();
  result.patients = static_cast<int64_t>(patients.size());
  log::info(fmt::format("imported {} LIDC patches of {} patients into {}", result.samples,
                        result.patients, out_dir));
  return result;
}

}  // namespace psam::data
