#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <ostream>
#include <random>

#include "data/mask_bytes.h"
#include "psam/data/store/check.h"
#include "psam/data/store/store.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "data/store/store_json.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// A sibling of `dir` (same file system, so the final rename is atomic).
std::string sibling_name(const fs::path& dir, const char* tag) {
  std::random_device rd;
  return fmt::format("{}.{}{}_{}", dir.string(), tag, ::getpid(), rd() % 1000000);
}

}  // namespace

struct DatasetWriter::State {
  fs::path dir, staging;
  DatasetInfo info;
  int64_t oracle_draws = 0;
  bool overwrite = false;
  bool committed = false;
  std::vector<SampleMeta> meta;
  // Declared after the paths: destroyed first, removing their temporary files.
  std::unique_ptr<io::NpyWriter> images, masks, oracle;
};

DatasetWriter::DatasetWriter(const std::string& dir, const DatasetInfo& info, int64_t oracle_draws,
                             bool overwrite)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.dir = fs::path(dir);
  s.info = info;
  s.oracle_draws = oracle_draws;
  s.overwrite = overwrite;
  PSAM_CHECK(info.count > 0 && info.annotators > 0 && info.height > 0 && info.width > 0,
             fmt::format("dataset {}: count, annotators, height and width must be positive "
                         "(got {}, {}, {}, {})",
                         dir, info.count, info.annotators, info.height, info.width));
  PSAM_CHECK(info.channels == 1 || info.channels == 3,
             fmt::format("dataset {}: channels must be 1 or 3, got {}", dir, info.channels));
  PSAM_CHECK(info.image_dtype == at::kFloat || info.image_dtype == at::kByte,
             "dataset " + dir + ": image dtype must be float32 or uint8");
  PSAM_CHECK((info.image_dtype == at::kByte) == (info.intensity == Intensity::kUint8),
             "dataset " + dir + ": uint8 images need intensity uint8, float32 images hu or unit");
  PSAM_CHECK(oracle_draws >= 0, "dataset " + dir + ": oracle draws must be >= 0");
  PSAM_CHECK(overwrite || !fs::exists(s.dir),
             "output " + dir + " already exists (choose a new directory or remove it)");
  const fs::path parent = s.dir.has_parent_path() ? s.dir.parent_path() : fs::path(".");
  PSAM_CHECK(fs::is_directory(parent),
             "output " + dir + ": parent directory " + parent.string() + " does not exist");
  parse_json(info.provenance_json, "dataset " + dir + " provenance");

  s.staging = sibling_name(s.dir, "partial");
  fs::create_directory(s.staging);
  const int64_t n = info.count, k = info.annotators, h = info.height, w = info.width;
  std::vector<int64_t> image_shape{n, h, w};
  if (info.channels == 3) image_shape.push_back(3);
  s.images = std::make_unique<io::NpyWriter>((s.staging / "images.npy").string(), info.image_dtype,
                                             image_shape);
  s.masks = std::make_unique<io::NpyWriter>((s.staging / "masks.npy").string(), at::kByte,
                                            std::vector<int64_t>{n, k, h, w});
  if (oracle_draws > 0)
    s.oracle = std::make_unique<io::NpyWriter>((s.staging / "oracle_masks.npy").string(), at::kByte,
                                               std::vector<int64_t>{n, oracle_draws, h, w});
}

DatasetWriter::~DatasetWriter() {
  if (!state_ || state_->committed) return;
  state_->images.reset();
  state_->masks.reset();
  state_->oracle.reset();
  std::error_code ignored;
  fs::remove_all(state_->staging, ignored);
}

int64_t DatasetWriter::added() const { return static_cast<int64_t>(state_->meta.size()); }
const std::vector<SampleMeta>& DatasetWriter::meta() const { return state_->meta; }

void DatasetWriter::set_provenance(const std::string& provenance_json) {
  parse_json(provenance_json, "dataset " + state_->dir.string() + " provenance");
  state_->info.provenance_json = provenance_json;
}

void DatasetWriter::add(const at::Tensor& image, const at::Tensor& masks, const SampleMeta& meta,
                        const at::Tensor& oracle) {
  add_batch(image.unsqueeze(0), masks.unsqueeze(0), {meta},
            oracle.defined() ? oracle.unsqueeze(0) : oracle);
}

void DatasetWriter::add_batch(const at::Tensor& images, const at::Tensor& masks,
                              const std::vector<SampleMeta>& meta, const at::Tensor& oracle) {
  State& s = *state_;
  PSAM_CHECK(!s.committed, "dataset " + s.dir.string() + ": add after commit");
  const DatasetInfo& info = s.info;
  const int64_t n = static_cast<int64_t>(meta.size());
  const std::string where = fmt::format("dataset {} sample {}", s.dir.string(),
                                        meta.empty() ? std::string("?") : meta.front().id);
  PSAM_CHECK(added() + n <= info.count,
             fmt::format("{}: more than the declared {} samples", where, info.count));
  std::vector<int64_t> image_shape{n, info.height, info.width};
  if (info.channels == 3) image_shape.push_back(3);
  PSAM_CHECK(images.sizes().vec() == image_shape,
             fmt::format("{}: image shape [{}], expected [{}]", where,
                         fmt::join(images.sizes(), ","), fmt::join(image_shape, ",")));
  PSAM_CHECK(
      masks.sizes().vec() == std::vector<int64_t>({n, info.annotators, info.height, info.width}),
      fmt::format("{}: masks shape [{}], expected [{},{},{},{}]", where,
                  fmt::join(masks.sizes(), ","), n, info.annotators, info.height, info.width));
  PSAM_CHECK(info.image_dtype == at::kFloat ? images.is_floating_point()
                                            : images.scalar_type() == at::kByte,
             fmt::format("{}: image dtype {}, store holds {}", where,
                         c10::toString(images.scalar_type()), dtype_name(info.image_dtype)));
  PSAM_CHECK(oracle.defined() == (s.oracle != nullptr),
             where + (s.oracle ? ": oracle masks missing" : ": oracle masks given, none declared"));
  if (oracle.defined())
    PSAM_CHECK(
        oracle.sizes().vec() == std::vector<int64_t>({n, s.oracle_draws, info.height, info.width}),
        fmt::format("{}: oracle shape [{}], expected [{},{},{},{}]", where,
                    fmt::join(oracle.sizes(), ","), n, s.oracle_draws, info.height, info.width));

  s.images->append(images.to(torch::kCPU, info.image_dtype).contiguous());
  s.masks->append(masks.to(torch::kCPU).ne(0).to(torch::kByte).contiguous());
  if (oracle.defined())
    s.oracle->append(oracle.to(torch::kCPU).ne(0).to(torch::kByte).contiguous());
  s.meta.insert(s.meta.end(), meta.begin(), meta.end());
}

void DatasetWriter::commit(const Splits& splits) {
  State& s = *state_;
  const std::string dir = s.dir.string();
  PSAM_CHECK(!s.committed, "dataset " + dir + ": committed twice");
  PSAM_CHECK(added() == s.info.count,
             fmt::format("dataset {}: {} samples added, {} declared", dir, added(), s.info.count));
  s.images->commit();
  s.masks->commit();
  if (s.oracle) s.oracle->commit();

  write_file_atomic((s.staging / "dataset.json").string(),
                    [&](std::ostream& out) { out << info_to_json(s.info).dump(2) << "\n"; });
  write_file_atomic((s.staging / "meta.jsonl").string(), [&](std::ostream& out) {
    for (const auto& m : s.meta) out << meta_to_json(m).dump() << "\n";
  });
  write_file_atomic((s.staging / "splits.json").string(),
                    [&](std::ostream& out) { out << splits_to_json(splits).dump(2) << "\n"; });

  // Whatever an importer does, what lands at `dir` passes `psam data check`.
  const CheckReport report = check_store(s.staging.string());
  PSAM_CHECK(report.ok(),
             "dataset " + dir + ": the written store fails its check: " + report.errors.front());

  fs::path old;
  if (fs::exists(s.dir)) {
    PSAM_CHECK(s.overwrite, "output " + dir + " appeared while writing; not replacing it");
    old = sibling_name(s.dir, "old");
    fs::rename(s.dir, old);
  }
  std::error_code ec;
  fs::rename(s.staging, s.dir, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, s.dir);
    fail("cannot move the new store into " + dir + ": " + ec.message());
  }
  s.committed = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace psam::data
