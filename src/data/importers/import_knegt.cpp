#include "psam/data/importers/import_knegt.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "psam/data/store/store.h"
#include "psam/io/pickle/pickle.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
namespace {

struct Entry {
  std::string key;
  at::Tensor image;               // [H,W], a view of the mapped file when possible
  std::vector<at::Tensor> masks;  // K x [H,W]
  std::string series_uid;
};

const c10::IValue& field(const c10::impl::GenericDict& d, const char* name,
                         const std::string& where) {
  auto it = d.find(c10::IValue(std::string(name)));
  PSAM_CHECK(it != d.end(), fmt::format("{}: no '{}'", where, name));
  return it->value();
}

at::Tensor array(const c10::IValue& v, const std::string& where) {
  PSAM_CHECK(v.isTensor(), where + ": expected a numpy array");
  return v.toTensor();
}

Entry parse_entry(const c10::IValue& key, const c10::IValue& value, const std::string& source) {
  PSAM_CHECK(key.isString(), source + ": a key that is not a str");
  Entry e;
  e.key = key.toStringRef();
  const std::string where = fmt::format("{}: entry '{}'", source, e.key);
  PSAM_CHECK(value.isGenericDict(), where + ": expected a dict with image, masks, series_uid");
  const auto d = value.toGenericDict();
  e.image = array(field(d, "image", where), where + " image");
  PSAM_CHECK(e.image.dim() == 2 && e.image.is_floating_point(),
             fmt::format("{}: image must be a 2-D float array, got {}-D {}", where, e.image.dim(),
                         c10::toString(e.image.scalar_type())));
  const c10::IValue& masks = field(d, "masks", where);
  if (masks.isList()) {
    for (const c10::IValue& m : masks.toListRef()) e.masks.push_back(array(m, where + " mask"));
  } else if (masks.isTuple()) {
    for (const c10::IValue& m : masks.toTupleRef().elements())
      e.masks.push_back(array(m, where + " mask"));
  } else {
    const at::Tensor stacked = array(masks, where + " masks");
    PSAM_CHECK(stacked.dim() == 3, where + ": masks must be a list of 2-D arrays or a 3-D array");
    for (int64_t k = 0; k < stacked.size(0); ++k) e.masks.push_back(stacked[k]);
  }
  PSAM_CHECK(!e.masks.empty(), where + ": no masks");
  for (const at::Tensor& m : e.masks)
    PSAM_CHECK(m.sizes() == e.image.sizes(),
               fmt::format("{}: a mask of shape [{}] for an image of shape [{}]", where,
                           fmt::join(m.sizes(), ","), fmt::join(e.image.sizes(), ",")));
  const c10::IValue& uid = field(d, "series_uid", where);
  PSAM_CHECK(uid.isString(), where + ": series_uid must be a str");
  e.series_uid = uid.toStringRef();
  return e;
}

// Series UID -> patient id from TCIA's LIDC-IDRI_MetaData.csv.
std::unordered_map<std::string, std::string> read_metadata(const std::string& path) {
  std::ifstream in(path);
  PSAM_CHECK(in.good(), "cannot read " + path);
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    for (std::string c; std::getline(s, c, ',');) cells.push_back(c);
    return cells;
  };
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  const auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    PSAM_CHECK(it != header.end(), fmt::format("{}: no column '{}'", path, name));
    return static_cast<size_t>(it - header.begin());
  };
  const size_t patient = column("Patient Id"), series = column("Series UID");
  std::unordered_map<std::string, std::string> out;
  while (std::getline(in, line)) {
    const auto cells = split(line);
    if (cells.size() > std::max(patient, series)) out[cells[series]] = cells[patient];
  }
  return out;
}

// What the image values are: [0,1] -> unit; CT-like -> hu; anything else needs the user.
Intensity decide_intensity(const std::string& requested, double lo, double hi,
                           const std::string& source) {
  const bool unit = lo >= 0 && hi <= 1;
  const bool hu = lo >= -3100 && hi <= 4100 && lo < -100;
  if (requested == "unit") {
    PSAM_CHECK(unit, fmt::format("{}: --intensity unit, but image values span [{:g}, {:g}]", source,
                                 lo, hi));
    return Intensity::kUnit;
  }
  if (requested == "hu") return Intensity::kHu;
  PSAM_CHECK(requested == "auto", "intensity '" + requested + "': expected auto, unit or hu");
  if (unit) return Intensity::kUnit;
  if (hu) return Intensity::kHu;
  fail(
      fmt::format("{}: image values span [{:g}, {:g}], neither [0, 1] nor Hounsfield units; "
                  "say which with --intensity",
                  source, lo, hi));
}

}  // namespace

KnegtImportResult import_knegt(const std::string& pickle_path, const std::string& out_dir,
                               const KnegtImportOptions& options) {
  io::UnpickleOptions unpickle_options;
  unpickle_options.allow_numpy = true;
  unpickle_options.numpy_views = true;  // arrays stay in the mapped file until written
  const c10::IValue root = io::read_pickle(pickle_path, unpickle_options);
  PSAM_CHECK(root.isGenericDict(), pickle_path + ": expected a dict of samples at the top level");
  const auto dict = root.toGenericDict();
  PSAM_CHECK(dict.size() > 0, pickle_path + ": the dict is empty");

  std::vector<Entry> entries;
  entries.reserve(dict.size());
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& item : dict) {
    entries.push_back(parse_entry(item.key(), item.value(), pickle_path));
    const Entry& e = entries.back();
    const Entry& first = entries.front();
    PSAM_CHECK(
        e.image.sizes() == first.image.sizes() && e.masks.size() == first.masks.size(),
        fmt::format("{}: entry '{}' has a [{}] image and {} masks, the first has [{}] and {}",
                    pickle_path, e.key, fmt::join(e.image.sizes(), ","), e.masks.size(),
                    fmt::join(first.image.sizes(), ","), first.masks.size()));
    const auto [mn, mx] = e.image.aminmax();
    lo = std::min(lo, mn.item<double>());
    hi = std::max(hi, mx.item<double>());
  }
  PSAM_CHECK(std::isfinite(lo) && std::isfinite(hi), pickle_path + ": images hold NaN or infinity");
  const Intensity intensity = decide_intensity(options.intensity, lo, hi, pickle_path);

  std::unordered_map<std::string, std::string> series_to_patient;
  if (!options.metadata_csv.empty()) series_to_patient = read_metadata(options.metadata_csv);
  static const std::regex patient_in_key(R"(LIDC-IDRI-[0-9]{4})");
  std::string patient_from;
  auto patient_of = [&](const Entry& e) {
    std::smatch m;
    std::string from, id;
    if (std::regex_search(e.key, m, patient_in_key)) {
      from = "key";
      id = m.str();
    } else if (auto it = series_to_patient.find(e.series_uid); it != series_to_patient.end()) {
      from = "metadata";
      id = it->second;
    } else {
      from = "series_uid";
      id = e.series_uid;
    }
    if (patient_from.empty()) patient_from = from;
    if (patient_from != from) patient_from = "mixed";
    return id;
  };

  const Entry& first = entries.front();
  DatasetInfo info;
  info.name = "lidc-knegt";
  info.count = static_cast<int64_t>(entries.size());
  info.annotators = static_cast<int64_t>(first.masks.size());
  info.height = first.image.size(0);
  info.width = first.image.size(1);
  info.intensity = intensity;
  DatasetWriter writer(out_dir, info, 0, options.overwrite);
  std::set<std::string> patients;
  for (const Entry& e : entries) {
    std::vector<at::Tensor> masks;
    for (const at::Tensor& m : e.masks)
      masks.push_back(m.is_floating_point() ? m.gt(0.5) : m.ne(0));
    SampleMeta meta;
    meta.id = e.key;
    meta.patient_id = patient_of(e);
    meta.series_uid = e.series_uid;
    patients.insert(meta.patient_id);
    writer.add(e.image.to(torch::kFloat), torch::stack(masks), meta);
  }
  writer.set_provenance(nlohmann::json{
      {"importer", "psam data import-knegt"},
      {"source", std::filesystem::absolute(pickle_path).string()},
      {"image_min", lo},
      {"image_max", hi},
      {"patient_id_from",
       patient_from}}.dump());
  writer.commit(make_splits(writer.meta(), options.split));
  log::info(fmt::format("imported {} samples of {} patients from {} into {}", entries.size(),
                        patients.size(), pickle_path, out_dir));
  return {info.count,
          static_cast<int64_t>(patients.size()),
          info.annotators,
          info.height,
          info.width,
          lo,
          hi,
          to_string(intensity),
          patient_from};
}

}  // namespace psam::data
