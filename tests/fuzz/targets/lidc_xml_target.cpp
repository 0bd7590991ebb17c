// One LIDC reading-session XML file through what the DICOM importer does with it: parse, estimate
// the slice step, group the readers' outlines into nodules, and rasterise every reader's outlines
// on every slice of every nodule in the window around them.
#include <map>

#include "fuzz/fuzz_target.h"
#include "psam/data/importers/lidc_masks.h"
#include "psam/data/importers/lidc_xml.h"

PSAM_FUZZ_TARGET(lidc_xml) {
  using namespace psam::data;
  const std::string path =
      psam::fuzz::write_file("input.xml", {reinterpret_cast<const char*>(data), size});
  const LidcXml xml = read_lidc_xml(path);
  const double step = estimate_slice_step(xml);
  const auto groups = group_nodules(xml, {0.7, step, 4});
  for (const PhysicalNodule& group : groups) {
    // z -> rois per reader, as the importer collects them per slice.
    std::map<double, std::vector<std::vector<const LidcRoi*>>> slices;
    for (size_t r = 0; r < group.readers.size(); ++r) {
      const auto& ann = group.readers[r];
      for (const LidcRoi& roi : xml.sessions[ann.session].nodules[ann.nodule].rois) {
        auto& per_reader = slices[roi.z];
        per_reader.resize(group.readers.size());
        per_reader[r].push_back(&roi);
      }
    }
    for (const auto& [z, per_reader] : slices) {
      std::vector<const LidcRoi*> all;
      for (const auto& rois : per_reader) all.insert(all.end(), rois.begin(), rois.end());
      const PixelWindow window = bounding_window(all, 1);
      for (const auto& rois : per_reader) {
        reader_slice_mask(rois, window, {true});
        reader_slice_mask(rois, window, {false});
      }
    }
  }
}
