// Validation of a dataset store (`psam data check DIR`): every problem is listed, not only the
// first, so a broken import can be diagnosed in one run.
#pragma once

#include <string>
#include <vector>

namespace psam::data {

class DatasetStore;

struct CheckReport {
  std::vector<std::string> errors;    // the store must not be used
  std::vector<std::string> warnings;  // usable, but the user should know (e.g. a leaky split)
  std::vector<std::string> notes;     // summary lines: counts, shapes, split sizes
  bool ok() const { return errors.empty(); }
};

// Shapes and dtypes against dataset.json, counts, unique ids, every sample in exactly one set,
// no patient in two sets of a patient split. Cheap (no pixel is read).
void check_structure(const DatasetStore& store, CheckReport& report);
// Every value: masks (and oracle masks) in {0,1}, float images finite and in the range their
// intensity declares.
void check_values(const DatasetStore& store, CheckReport& report);
// Loads DIR and runs both; a file that cannot be read or parsed becomes an error in the report.
CheckReport check_store(const std::string& dir);

}  // namespace psam::data
