#include "data/importers/image_set.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "psam/io/image.h"
#include "psam/util/error.h"
#include "psam/util/log.h"

namespace psam::data {
namespace fs = std::filesystem;

namespace {

// How the store keeps pixels, fixed by the first image.
struct StoreFormat {
  int bits = 8;
  int64_t channels = 1;
};

double full_scale(const at::Tensor& file_pixels) {
  return file_pixels.scalar_type() == at::kByte ? 255.0 : 65535.0;
}

// A file's pixels [H,W,C] as float [C,H,W] on the store's scale (16-bit stores: 8-bit values
// are spread over the 16-bit range) with the store's channels.
at::Tensor to_store_scale(const at::Tensor& file_pixels, const StoreFormat& format,
                          const fs::path& path) {
  const bool eight_bit = file_pixels.scalar_type() == at::kByte;
  PSAM_CHECK(format.bits == 16 || eight_bit,
             fmt::format("{}: a 16-bit image in a set whose first image is 8-bit (convert the "
                         "images to one depth)",
                         path.string()));
  at::Tensor chw = file_pixels.permute({2, 0, 1}).to(torch::kFloat);
  if (format.bits == 16 && eight_bit) chw = chw * 257.0;  // 255 -> 65535
  if (chw.size(0) == format.channels) return chw;
  if (format.channels == 3) return chw.expand({3, -1, -1});
  PSAM_CHECK(torch::equal(chw[0], chw[1]) && torch::equal(chw[0], chw[2]),
             fmt::format("{}: a colour image in a set whose first image is grey", path.string()));
  return chw.slice(0, 0, 1);
}

// The window of `size` in an image of (h, w): around the centroid of `centre` (float [H,W]
// weights) when it has any weight, else around the image centre. Kept inside the image.
std::array<int64_t, 2> crop_origin(int64_t h, int64_t w, const ImageSize& size,
                                   const at::Tensor& centre, const fs::path& path) {
  PSAM_CHECK(h >= size.height && w >= size.width,
             fmt::format("{}: {}x{} is smaller than the crop {}x{}", path.string(), h, w,
                         size.height, size.width));
  if (!centre.defined() || centre.sum().item<double>() <= 0)
    return {(h - size.height) / 2, (w - size.width) / 2};
  const double total = centre.sum().item<double>();
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const double cy =
      (centre.to(torch::kDouble).sum(1) * torch::arange(h, opts)).sum().item<double>() / total;
  const double cx =
      (centre.to(torch::kDouble).sum(0) * torch::arange(w, opts)).sum().item<double>() / total;
  // Pixel centres cy - (size-1)/2 .. cy + (size-1)/2.
  const auto origin = [](double c, int64_t side, int64_t extent) {
    return std::clamp<int64_t>(std::llround(c - (side - 1) / 2.0), 0, extent - side);
  };
  return {origin(cy, size.height, h), origin(cx, size.width, w)};
}

at::Tensor resized(const at::Tensor& chw, const ImageSize& size) {
  namespace F = torch::nn::functional;
  if (chw.size(1) == size.height && chw.size(2) == size.width) return chw;
  return F::interpolate(chw.unsqueeze(0), F::InterpolateFuncOptions()
                                              .size(std::vector<int64_t>{size.height, size.width})
                                              .mode(torch::kBilinear)
                                              .align_corners(false)
                                              .antialias(true))
      .squeeze(0);
}

std::string size_text(int64_t h, int64_t w) { return fmt::format("{}x{}", h, w); }

// One entry read and transformed: image float [C,H,W] on the store scale, masks bool [K,H,W].
struct ReadEntry {
  at::Tensor image, masks;
};

ReadEntry read_entry(const ImageSetEntry& e, const StoreFormat& format, const ImageImportOptions& o,
                     ImageImportReport& report) {
  const at::Tensor file_pixels = io::read_image(e.image.string());
  const int64_t h = file_pixels.size(0), w = file_pixels.size(1);
  ++report.source_sizes[size_text(h, w)];
  ReadEntry r;
  r.image = to_store_scale(file_pixels, format, e.image);
  std::vector<at::Tensor> masks;
  for (const MaskFile& m : e.masks) {
    if (!m.present) {
      masks.push_back(torch::zeros({h, w}, torch::kBool));
      continue;
    }
    masks.push_back(read_mask(m.path, o.threshold));
    PSAM_CHECK(masks.back().size(0) == h && masks.back().size(1) == w,
               fmt::format("{}: {}x{}, but its image {} is {}x{}", m.path.string(),
                           masks.back().size(0), masks.back().size(1), e.image.string(), h, w));
  }
  r.masks = torch::stack(masks);
  if (o.crop) {
    at::Tensor centre;
    for (const fs::path& p : e.crop_centre) {
      const at::Tensor m = read_mask(p, o.threshold).to(torch::kFloat);
      PSAM_CHECK(m.size(0) == h && m.size(1) == w,
                 fmt::format("{}: size differs from its image {}", p.string(), e.image.string()));
      centre = centre.defined() ? centre + m : m;
    }
    const auto [y, x] = crop_origin(h, w, *o.crop, centre, e.image);
    r.image = r.image.slice(1, y, y + o.crop->height).slice(2, x, x + o.crop->width);
    r.masks = r.masks.slice(1, y, y + o.crop->height).slice(2, x, x + o.crop->width);
  }
  if (o.resize) {
    r.image = resized(r.image, *o.resize);
    r.masks = resized(r.masks.to(torch::kFloat), *o.resize) >= 0.5;
  }
  return r;
}

// The store's image [H,W] or [H,W,3]: uint8 for 8-bit sets, float / 65535 for 16-bit ones.
at::Tensor store_image(const at::Tensor& chw, const StoreFormat& format) {
  const at::Tensor hwc = chw.permute({1, 2, 0});
  const at::Tensor values =
      format.bits == 8 ? hwc.round().clamp(0, 255).to(torch::kByte) : (hwc / 65535.0).clamp(0, 1);
  return (format.channels == 1 ? values.select(2, 0) : values).contiguous();
}

std::string missing_names(const ImageSetEntry& e, const std::vector<std::string>& raters) {
  std::string out;
  for (size_t k = 0; k < e.masks.size(); ++k)
    if (!e.masks[k].present) out += (out.empty() ? "" : ", ") + raters[k];
  return out;
}

}  // namespace

at::Tensor read_mask(const fs::path& path, double threshold) {
  const at::Tensor pixels = io::read_image(path.string());
  const at::Tensor values = pixels.amax(2);
  if (values.max().item<int64_t>() <= 1) return values > 0;  // a 0/1 label map
  return values.to(torch::kDouble) > threshold * full_scale(pixels);
}

void write_image_set(std::vector<ImageSetEntry> entries, const std::string& out_dir,
                     const ImageImportOptions& o, bool keep_split, const std::string& name,
                     nlohmann::json provenance, ImageImportReport& report) {
  PSAM_CHECK(o.threshold >= 0 && o.threshold < 1,
             fmt::format("mask threshold must be in [0, 1), got {}", o.threshold));
  for (const auto* size : {&o.crop, &o.resize})
    PSAM_CHECK(!*size || ((*size)->height > 0 && (*size)->width > 0),
               "crop and resize sizes must be positive");
  // Missing mask files: reported, then the policy.
  std::vector<ImageSetEntry> kept;
  std::string first_missing;  // with --missing-mask error: the error, once every file is listed
  for (ImageSetEntry& e : entries) {
    const auto absent = [](const MaskFile& m) { return !m.present; };
    const auto first_absent = std::find_if(e.masks.begin(), e.masks.end(), absent);
    if (first_absent == e.masks.end()) {
      kept.push_back(std::move(e));
      continue;
    }
    if (std::all_of(e.masks.begin(), e.masks.end(), absent))
      report.images_without_masks.push_back(e.image.string());
    for (size_t k = 0; k < e.masks.size(); ++k)
      if (!e.masks[k].present)
        report.missing_masks.push_back(
            fmt::format("{}: {}", report.raters[k], e.masks[k].path.string()));
    if (o.missing == MissingMask::kError) {
      if (first_missing.empty())
        first_missing = fmt::format(
            "{}: missing (the mask of {} for {}); --missing-mask skip or empty to go on",
            first_absent->path.string(), report.raters[first_absent - e.masks.begin()],
            e.image.string());
      continue;
    }
    if (o.missing == MissingMask::kSkip) {
      report.skipped.push_back(
          fmt::format("{}: no mask from {}", e.id, missing_names(e, report.raters)));
      continue;
    }
    kept.push_back(std::move(e));
  }
  if (!first_missing.empty()) fail(first_missing);
  PSAM_CHECK(!kept.empty(),
             "no image is left to import (every one lacks a rater's mask; see "
             "--missing-mask)");

  StoreFormat format;
  const at::Tensor first = io::read_image(kept.front().image.string());
  format.bits = first.scalar_type() == at::kByte ? 8 : 16;
  format.channels = first.size(2);
  report.bits = format.bits;
  report.channels = format.channels;

  std::unique_ptr<DatasetWriter> writer;
  std::set<std::string> patients, ids;
  std::vector<std::string> sets;
  const ImageSetEntry* first_entry = &kept.front();
  for (const ImageSetEntry& e : kept) {
    PSAM_CHECK(ids.insert(e.id).second,
               fmt::format("{}: a second image with the id '{}'", e.image.string(), e.id));
    const ReadEntry r = read_entry(e, format, o, report);
    const int64_t h = r.image.size(1), w = r.image.size(2);
    if (!writer) {
      DatasetInfo info;
      info.name = name;
      info.count = static_cast<int64_t>(kept.size());
      info.annotators = static_cast<int64_t>(report.raters.size());
      info.height = h;
      info.width = w;
      info.channels = format.channels;
      info.image_dtype = format.bits == 8 ? at::kByte : at::kFloat;
      info.intensity = format.bits == 8 ? Intensity::kUint8 : Intensity::kUnit;
      writer = std::make_unique<DatasetWriter>(out_dir, info, 0, o.overwrite);
      report.height = h;
      report.width = w;
    }
    PSAM_CHECK(h == report.height && w == report.width,
               fmt::format("{}: {}x{}{}, but {} is {}x{}; give --resize HxW (or --crop HxW)",
                           e.image.string(), h, w, o.crop ? " after cropping" : "",
                           first_entry->image.string(), report.height, report.width));
    SampleMeta meta;
    meta.id = e.id;
    meta.patient_id = e.patient;
    meta.extra_json = e.extra.dump();
    writer->add(store_image(r.image, format), r.masks, meta);
    patients.insert(e.patient);
    sets.push_back(e.split);
  }
  report.samples = static_cast<int64_t>(kept.size());
  report.patients = static_cast<int64_t>(patients.size());
  const bool own_split = keep_split && std::all_of(sets.begin(), sets.end(),
                                                   [](const std::string& s) { return !s.empty(); });
  const Splits splits = own_split ? source_splits(writer->meta(), sets, "the split folders")
                                  : make_splits(writer->meta(), o.split);
  report.split = splits.description;
  provenance["report"] = nlohmann::json::parse(report_json(report));
  writer->set_provenance(provenance.dump());
  writer->commit(splits);
  log::info(fmt::format("imported {} images of {} patients ({} raters) into {}", report.samples,
                        report.patients, report.raters.size(), out_dir));
}

std::string report_json(const ImageImportReport& r) {
  nlohmann::json j{{"samples", r.samples},
                        {"patients", r.patients},
                        {"height", r.height},
                        {"width", r.width},
                        {"channels", r.channels},
                        {"bits", r.bits},
                        {"raters", r.raters},
                        {"images_without_masks", r.images_without_masks},
                        {"masks_without_images", r.masks_without_images},
                        {"missing_masks", r.missing_masks},
                        {"skipped", r.skipped},
                        {"source_sizes", r.source_sizes},
                        {"split", r.split}};
  if (!r.unsupported.empty()) j["unsupported"] = r.unsupported;
  return j.dump();
}

std::vector<std::string> report_lines(const ImageImportReport& r) {
  std::vector<std::string> lines;
  lines.push_back(
      fmt::format("{} images of {} patients, {} raters ({}), {}x{}, {} channel(s), "
                  "{}-bit",
                  r.samples, r.patients, r.raters.size(), fmt::join(r.raters, ", "), r.height,
                  r.width, r.channels, r.bits));
  std::vector<std::string> sizes;
  for (const auto& [size, count] : r.source_sizes)
    sizes.push_back(fmt::format("{} ({})", size, count));
  lines.push_back("source image sizes: " + fmt::format("{}", fmt::join(sizes, ", ")));
  for (auto& line : found_lines(r)) lines.push_back(std::move(line));
  lines.push_back("split: " + r.split);
  return lines;
}

std::vector<std::string> found_lines(const ImageImportReport& r) {
  constexpr size_t kShown = 10;  // names listed per problem; the rest are counted
  std::vector<std::string> lines;
  const auto listed = [&](const std::string& what, const std::vector<std::string>& items) {
    if (items.empty()) return;
    lines.push_back(fmt::format("{} ({}):", what, items.size()));
    for (size_t i = 0; i < std::min(items.size(), kShown); ++i) lines.push_back("  " + items[i]);
    if (items.size() > kShown)
      lines.push_back(fmt::format("  ... and {} more", items.size() - kShown));
  };
  listed("images without masks", r.images_without_masks);
  listed("masks without images", r.masks_without_images);
  listed("missing mask files", r.missing_masks);
  listed("skipped images", r.skipped);
  listed("files in a format psam does not read", r.unsupported);
  return lines;
}

}  // namespace psam::data
