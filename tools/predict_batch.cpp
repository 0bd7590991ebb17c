// psam predict on many images: a folder with a CSV of boxes (--images DIR --boxes CSV), or every
// case of a store's split with the store's own box prompt (--store DIR --split S). The model is
// loaded once; each image or case gets the single-image method output in its own subfolder, and
// batch.json lists them.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "predict.h"
#include "psam/data/loader/loader.h"
#include "psam/data/store/store.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexFile = "batch.json";

// One row of the boxes CSV.
struct BoxRow {
  std::string where;  // "boxes.csv:LINE" for messages
  std::string image;  // path (relative paths are under --images)
  std::string box;    // "x0,y0,x1,y1" as predict's --box takes it
  std::string name;   // the subfolder
};

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  for (std::string f; std::getline(ss, f, ',');) {
    const auto first = f.find_first_not_of(" \t\r");
    const auto last = f.find_last_not_of(" \t\r");
    fields.push_back(first == std::string::npos ? "" : f.substr(first, last - first + 1));
  }
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

// A folder name from an image stem or a case id: path separators and other characters a file
// system may refuse become '_'.
std::string folder_name(const std::string& text) {
  std::string out;
  for (const char c : text)
    out +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  return out.empty() || out == "." || out == ".." ? "_" + out : out;
}

// Header `image,x0,y0,x1,y1` (any column order) with an optional `name` column for the subfolder
// (default: the image's file stem); '#' lines and blank lines are skipped.
std::vector<BoxRow> read_boxes_csv(const std::string& path, const std::string& images) {
  std::ifstream in(path);
  PSAM_CHECK(in.good(), fmt::format("--boxes {}: cannot read the file", path));
  const std::vector<std::string> needed = {"image", "x0", "y0", "x1", "y1"};
  std::vector<std::string> header;
  std::map<std::string, size_t> column;
  std::vector<BoxRow> rows;
  std::map<std::string, std::string> names;  // subfolder -> where it was first given
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const auto fields = split_csv_line(line);
    const auto where = fmt::format("{}:{}", path, number);
    if (header.empty()) {
      header = fields;
      for (size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
      for (const auto& key : needed)
        PSAM_CHECK(column.count(key),
                   fmt::format("{}: the header needs the columns image,x0,y0,x1,y1 (and "
                               "optionally name), got '{}'",
                               where, line));
      continue;
    }
    PSAM_CHECK(fields.size() == header.size(),
               fmt::format("{}: expected {} comma-separated fields as the header, got {}", where,
                           header.size(), fields.size()));
    BoxRow row;
    row.where = where;
    const auto& file = fields[column["image"]];
    PSAM_CHECK(!file.empty(), fmt::format("{}: the image field is empty", where));
    row.image = fs::path(file).is_absolute() ? file : (fs::path(images) / file).string();
    PSAM_CHECK(fs::is_regular_file(row.image),
               fmt::format("{}: image {} does not exist", where, row.image));
    row.box = fmt::format("{},{},{},{}", fields[column["x0"]], fields[column["y0"]],
                          fields[column["x1"]], fields[column["y1"]]);
    row.name = folder_name(column.count("name") && !fields[column["name"]].empty()
                               ? fields[column["name"]]
                               : fs::path(file).stem().string());
    PSAM_CHECK(row.name != kIndexFile,
               fmt::format("{}: '{}' is the name of the batch's index file", where, row.name));
    const auto [it, fresh] = names.emplace(row.name, where);
    PSAM_CHECK(fresh, fmt::format("{}: subfolder '{}' is already {}'s; give the rows a `name` "
                                  "column to predict one image with several boxes",
                                  where, row.name, it->second));
    rows.push_back(std::move(row));
  }
  PSAM_CHECK(!header.empty() && !rows.empty(),
             fmt::format("--boxes {}: no rows (expected a header image,x0,y0,x1,y1 and one row "
                         "per image and box)",
                         path));
  return rows;
}

// With --force: removes the subfolders an earlier batch listed in its batch.json (psam's files
// only; a folder is removed once empty) and the index itself.
void clear_earlier_batch(const std::string& out) {
  const fs::path index = fs::path(out) / kIndexFile;
  if (!fs::is_regular_file(index)) return;
  nlohmann::json earlier;
  try {
    earlier = nlohmann::json::parse(read_file(index.string()));
  } catch (const std::exception& e) {
    fail(
        fmt::format("{}: an earlier batch index that cannot be read ({}); remove it or give "
                    "another --out",
                    index.string(), e.what()));
  }
  for (const auto& c : earlier.value("cases", nlohmann::json::array())) {
    const fs::path dir = fs::path(out) / folder_name(c.value("folder", std::string()));
    if (!fs::is_directory(dir)) continue;
    clear_earlier_prediction(dir.string());
    if (fs::is_empty(dir)) fs::remove(dir);
  }
  fs::remove(index);
}

// psam::Error prefixed with where the case came from.
template <class F>
auto at_row(const std::string& where, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", where, e.what()));
  }
}

std::string case_line(const std::string& name, const nlohmann::json& summary) {
  return fmt::format("{}: area mean {:.1f} px, pairwise IoU {}", name,
                     summary["area"]["mean"].get<double>(), pairwise_iou_text(summary));
}

}  // namespace

void run_predict_batch(const PredictArgs& a, Io io, const std::optional<models::ModelFile>& file) {
  PSAM_CHECK(a.box.empty() && a.points.empty(),
             "psam predict: --images and --store take their boxes from the CSV or the store; "
             "--box and --point are for one --image");
  PSAM_CHECK(!a.multimask,
             "psam predict: --multimask shows SAM's outputs for one --image; a "
             "batch writes the method's own output");
  PSAM_CHECK(a.window.empty(),
             "psam predict: --window is for one DICOM --image; a batch uses the model's stored "
             "window (or each slice's own)");
  const bool folder = !a.images.empty();
  if (folder) {
    PSAM_CHECK(fs::is_directory(a.images), fmt::format("--images {}: not a directory", a.images));
    PSAM_CHECK(!a.boxes.empty(),
               "psam predict --images DIR: give --boxes CSV (a header "
               "image,x0,y0,x1,y1 and one row per image and box)");
    PSAM_CHECK(a.split.empty(), "psam predict: --split is for --store");
  } else {
    PSAM_CHECK(a.boxes.empty(),
               "psam predict --store: the store's cases carry their boxes; "
               "--boxes is for --images");
  }
  // Everything that can be checked without the model is checked before it loads.
  const std::vector<BoxRow> rows =
      folder ? read_boxes_csv(a.boxes, a.images) : std::vector<BoxRow>{};
  // Every image is read once beforehand, so that a bad file or box stops the batch before any
  // prediction is written.
  for (const BoxRow& row : rows) {
    at_row(row.where, [&] {
      PredictArgs one = a;
      one.image = row.image;
      one.box = row.box;
      nlohmann::json scratch;
      const auto prompt = parse_prompt(one, scratch);
      data::LoaderOptions options;
      const InputImage input = read_model_input(one, options, false, scratch);
      check_prompt_inside(prompt, input.display.size(0), input.display.size(1));
      return 0;
    });
  }
  std::shared_ptr<const data::DatasetStore> store;
  std::vector<int64_t> indices;
  const std::string split = a.split.empty() ? "test" : a.split;
  if (!folder) {
    store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(a.store));
    indices = store->split_indices(split);
    PSAM_CHECK(!indices.empty(), fmt::format("--store {}: split '{}' is empty", a.store, split));
    std::set<std::string> seen;
    for (const int64_t i : indices) {
      const auto name = folder_name(store->meta()[i].id);
      PSAM_CHECK(seen.insert(name).second,
                 fmt::format("--store {}: two cases of split '{}' map to subfolder '{}'", a.store,
                             split, name));
    }
  }

  const SamplesModel m = load_samples_model(a, file);
  nlohmann::json index = {
      {"checkpoint", a.checkpoint.empty() ? nullptr : nlohmann::json(a.checkpoint)},
      {"samples", m.samples},
      {"seed", a.seed},
      {"tta", a.tta},
      {"cases", nlohmann::json::array()}};
  if (!a.kind.empty()) index["kind"] = a.kind;
  if (a.force) clear_earlier_batch(a.out);

  if (folder) {
    index["images"] = a.images;
    index["boxes"] = a.boxes;
    for (const BoxRow& row : rows) {
      const nlohmann::json summary = at_row(row.where, [&] {
        PredictArgs one = a;
        one.image = row.image;
        one.box = row.box;
        return predict_image(one, m, (fs::path(a.out) / row.name).string());
      });
      index["cases"].push_back({{"folder", row.name},
                                {"image", row.image},
                                {"box", summary["prompt"]["box"]},
                                {"area_mean", summary["area"]["mean"]},
                                {"pairwise_iou", summary["pairwise_iou"]}});
      io.out << case_line(row.name, summary) << "\n";
    }
  } else {
    index["store"] = a.store;
    index["split"] = split;
    index["split_fingerprint"] = store->split_fingerprint(split);
    // The store's prompt as evaluation builds it (the model's loader settings, no jitter),
    // with every annotator's mask and the image at store size for the pictures.
    data::LoaderOptions options = m.options;
    m.loaded.model->prepare_loader(options, /*training=*/false);
    options.batch_size = 1;
    options.workers = 0;
    options.shuffle = false;
    options.drop_last = false;
    options.box_jitter = 0;
    options.annotators = data::AnnotatorMode::kAll;
    options.raw_image = true;
    const data::Loader loader(store, indices, options);
    // One loader per further TTA view (--tta); each makes the same case in its view.
    std::vector<std::unique_ptr<data::Loader>> view_loaders;
    for (size_t v = 1; v < m.views.size(); ++v) {
      data::LoaderOptions o = options;
      o.view = m.views[v];
      view_loaders.push_back(std::make_unique<data::Loader>(store, indices, o));
    }
    for (int64_t k = 0; k < loader.size(); ++k) {
      const data::Batch batch = loader.make_batch({0, k});
      const std::string id = batch.ids.at(0);
      const std::string name = folder_name(id);
      const auto box = batch.image_box[0];
      nlohmann::json info = m.info;
      info["store"] = a.store;
      info["case"] = id;
      info["prompt"]["box"] = {box[0].item<double>(), box[1].item<double>(), box[2].item<double>(),
                               box[3].item<double>()};
      info["prompt"]["source"] = name_of(options.prompt);
      const at::Tensor display =
          (batch.raw_image[0].permute({1, 2, 0}) * 255).round().clamp(0, 255).to(at::kByte);
      const nlohmann::json summary = at_row(fmt::format("--store {}: case {}", a.store, id), [&] {
        const auto in_view = [&](const geometry::Dihedral& view) {
          for (size_t v = 1; v < m.views.size(); ++v)
            if (m.views[v] == view) return view_loaders[v - 1]->make_batch({0, k});
          return batch;
        };
        return predict_case(m, in_view, display.contiguous(), std::move(info),
                            (fs::path(a.out) / name).string(), a.seed);
      });
      index["cases"].push_back({{"folder", name},
                                {"case", id},
                                {"box", summary["prompt"]["box"]},
                                {"area_mean", summary["area"]["mean"]},
                                {"pairwise_iou", summary["pairwise_iou"]}});
      io.out << case_line(name, summary) << "\n";
    }
  }
  write_file_atomic((fs::path(a.out) / kIndexFile).string(),
                    [&](std::ostream& os) { os << index.dump(2) << "\n"; });
  io.out << fmt::format("output: {}\nwrote {} predictions ({} samples each) and {} to {}\n",
                        m.info["output"].get<std::string>(), index["cases"].size(), m.samples,
                        kIndexFile, a.out);
}

}  // namespace psam::cli
