#include "psam/data/loader/loader.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "data/loader/sample_transform.h"
#include "data/rng.h"
#include "psam/geometry/resize.h"
#include "psam/geometry/resize_longest_side.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

enum LoaderStream : uint64_t { kOrderStream = 11, kSampleStream = 12 };

// An image [H,W] or [H,W,C] (channel-last, as stores hold them) as channel-first floats in
// [0, 1]: [C,H,W], mapped as the options say for the declared intensity.
std::vector<float> unit_pixels(const at::Tensor& image, Intensity intensity,
                               const LoaderOptions& o) {
  const at::Tensor src = image.contiguous();
  const int64_t h = src.size(0), w = src.size(1), c = src.dim() == 3 ? src.size(2) : 1;
  const int64_t hw = h * w;
  std::vector<float> out(c * hw);
  // Channel-last [H,W,C] -> channel-first.
  if (src.scalar_type() == at::kByte) {
    const uint8_t* p = src.data_ptr<uint8_t>();
    for (int64_t q = 0; q < hw; ++q)
      for (int64_t ch = 0; ch < c; ++ch) out[ch * hw + q] = p[q * c + ch];
  } else {
    const float* p = src.data_ptr<float>();
    for (int64_t q = 0; q < hw; ++q)
      for (int64_t ch = 0; ch < c; ++ch) out[ch * hw + q] = p[q * c + ch];
  }
  const bool window = o.intensity == IntensityMapping::kWindow ||
                      (o.intensity == IntensityMapping::kAuto && intensity == Intensity::kHu);
  if (window) {
    const float lo = static_cast<float>(o.window_center - o.window_width / 2);
    const float inv = static_cast<float>(1.0 / o.window_width);
    for (float& v : out) v = std::clamp((v - lo) * inv, 0.0f, 1.0f);
  } else if (o.intensity == IntensityMapping::kMinMax) {
    const auto [mn, mx] = std::minmax_element(out.begin(), out.end());
    const float lo = *mn, range = *mx - *mn;
    for (float& v : out) v = range > 0 ? (v - lo) / range : 0.0f;
  } else if (intensity == Intensity::kUint8) {
    for (float& v : out) v *= 1.0f / 255.0f;
  }
  return out;
}

// unit [C,H,W] (C = 1 or 3) -> out [3,S,S] (when not null): resized so the longest side is S,
// SAM-normalised, in the top-left of the frame and zero-padded; raw_out [3,H,W] (when not
// null): the [0,1] values with grey replicated.
void fill_frame(const std::vector<float>& unit, int64_t channels, int64_t h, int64_t w,
                const LoaderOptions& o, float* out, float* raw_out) {
  const int64_t s = o.input_size, hw = h * w;
  const auto [nh, nw] = out ? geometry::ResizeLongestSide::get_preprocess_shape(h, w, s)
                            : std::array<int64_t, 2>{0, 0};
  std::vector<float> resized(nh * nw);
  for (int64_t ch = 0; ch < 3; ++ch) {
    const int64_t src_ch = channels == 3 ? ch : 0;
    if (raw_out)
      std::copy(unit.begin() + src_ch * hw, unit.begin() + (src_ch + 1) * hw, raw_out + ch * hw);
    if (!out) continue;
    if (ch == 0 || channels == 3)
      geometry::resize_bilinear(unit.data() + src_ch * hw, h, w, resized.data(), nh, nw, nw);
    float* plane = out + ch * s * s;
    const auto scale = static_cast<float>(255.0 / o.pixel_std[ch]);
    const auto shift = static_cast<float>(o.pixel_mean[ch] / o.pixel_std[ch]);
    for (int64_t y = 0; y < nh; ++y) {
      for (int64_t x = 0; x < nw; ++x) plane[y * s + x] = resized[y * nw + x] * scale - shift;
      std::fill(plane + y * s + nw, plane + (y + 1) * s, 0.0f);
    }
    std::fill(plane + nh * s, plane + s * s, 0.0f);
  }
}

// A box in image pixels -> image_out (as given) and frame_out (the S frame, moved as SAM's
// ResizeLongestSide.apply_boxes moves it: in double, then float; S = 0: no frame, the box stays
// in image pixels).
void write_box(const Box& box, int64_t h, int64_t w, int64_t s, float* image_out,
               float* frame_out) {
  const auto [sx, sy] =
      s > 0 ? geometry::ResizeLongestSide::coord_scale({h, w}, s) : std::array<double, 2>{1.0, 1.0};
  const std::array<float, 4> b = {box.x0, box.y0, box.x1, box.y1};
  for (int i = 0; i < 4; ++i) {
    image_out[i] = b[i];
    frame_out[i] = static_cast<float>(b[i] * (i % 2 == 0 ? sx : sy));
  }
}

void check_pixel_options(const LoaderOptions& o) {
  PSAM_CHECK(o.input_size == 0 || o.input_size >= kMinInputSize,
             fmt::format("loader: input_size must be >= {}, or 0 for no SAM frame", kMinInputSize));
  PSAM_CHECK(o.input_size > 0 || (o.raw_image && !o.resize_masks),
             "loader: input_size 0 (no SAM frame) needs raw_image and masks at store size");
  PSAM_CHECK(o.window_width > 0, "loader: window width must be > 0");
  o.augment.validate();
  for (double v : o.pixel_std) PSAM_CHECK(v > 0, "loader: pixel_std must be > 0");
}

}  // namespace

AnnotatorMode annotator_mode_from_string(const std::string& name) {
  return value_of<AnnotatorMode>(name, "annotator mode");
}

IntensityMapping intensity_mapping_from_string(const std::string& name) {
  return value_of<IntensityMapping>(name, "intensity mapping");
}

std::string intensity_json(const LoaderOptions& o) {
  return nlohmann::json{{"intensity", name_of(o.intensity)},
                        {"window_center", o.window_center},
                        {"window_width", o.window_width}}
      .dump();
}

void read_intensity_json(const std::string& text, LoaderOptions& o, const std::string& source) {
  try {
    const auto j = nlohmann::json::parse(text);
    o.intensity = value_of<IntensityMapping>(j.at("intensity").get<std::string>(),
                                             source + ": preprocessing intensity");
    o.window_center = j.at("window_center").get<double>();
    o.window_width = j.at("window_width").get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("{}: malformed preprocessing entry ({})", source, e.what()));
  }
}

Batch image_batch(const at::Tensor& image, Intensity intensity, const Box& box,
                  const LoaderOptions& o) {
  check_pixel_options(o);
  PSAM_CHECK(image.dim() == 2 || (image.dim() == 3 && (image.size(2) == 1 || image.size(2) == 3)),
             "image_batch: expected an image [H,W] or [H,W,C] with C = 1 or 3");
  PSAM_CHECK(image.scalar_type() == at::kFloat || image.scalar_type() == at::kByte,
             "image_batch: expected float32 or uint8 pixels");
  const int64_t h = image.size(0), w = image.size(1), s = o.input_size;
  const int64_t channels = image.dim() == 3 ? image.size(2) : 1;
  Batch batch;
  batch.size = {h, w};
  batch.global_count = 1;
  batch.index = {-1};
  batch.ids = {"image"};
  if (s > 0) batch.image = torch::empty({1, 3, s, s}, torch::kFloat);
  batch.box = torch::empty({1, 4}, torch::kFloat);
  batch.image_box = torch::empty({1, 4}, torch::kFloat);
  batch.annotator = torch::full({1}, -1, torch::kLong);
  if (o.raw_image) batch.raw_image = torch::empty({1, 3, h, w}, torch::kFloat);
  // The view moves the image and its box (augmentation is for store samples in training).
  SamplePlanes planes{unit_pixels(image, intensity, o), {}, channels, h, w, 0};
  PSAM_CHECK(o.view.quarter_turns % 2 == 0 || h == w,
             "image_batch: a quarter-turn view needs a square image");
  if (!o.view.is_identity()) transform_sample(o.view, AugmentOptions{}, {}, box, planes);
  fill_frame(planes.unit, channels, h, w, o, s > 0 ? batch.image.data_ptr<float>() : nullptr,
             o.raw_image ? batch.raw_image.data_ptr<float>() : nullptr);
  write_box(view_box(o.view, box, h, w), h, w, s, batch.image_box.data_ptr<float>(),
            batch.box.data_ptr<float>());
  return batch;
}

// Worker threads and the batches they have made, for one stream position onwards. A seek bumps
// `generation`, so batches still being made for the old position are dropped when they finish.
struct Loader::Pipeline {
  std::mutex mutex;
  std::condition_variable work_cv, done_cv;
  LoaderPosition position;  // of the next batch next() hands out
  int64_t next_to_make = 0;
  int64_t generation = 0;
  bool stop = false;
  struct Result {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Result> done;
  std::vector<std::thread> threads;
};

Loader::Loader(std::shared_ptr<const DatasetStore> store, std::vector<int64_t> indices,
               const LoaderOptions& options)
    : store_(std::move(store)), indices_(std::move(indices)), options_(options) {
  PSAM_CHECK(store_ != nullptr, "loader: no dataset store");
  const DatasetInfo& info = store_->info();
  const LoaderOptions& o = options_;
  for (int64_t i : indices_)
    PSAM_CHECK(
        i >= 0 && i < store_->size(),
        fmt::format("loader: sample index {} outside the store's {} samples", i, store_->size()));
  PSAM_CHECK(o.batch_size >= 1, "loader: batch_size must be >= 1");
  PSAM_CHECK(o.workers >= 0 && o.prefetch >= 1, "loader: need workers >= 0 and prefetch >= 1");
  check_pixel_options(o);
  PSAM_CHECK(o.view.quarter_turns % 2 == 0 || info.height == info.width,
             "loader: a quarter-turn view needs square images; " + store_->dir() + " holds " +
                 std::to_string(info.height) + " x " + std::to_string(info.width));
  PSAM_CHECK(
      o.annotators != AnnotatorMode::kFixed || (o.annotator >= 0 && o.annotator < info.annotators),
      fmt::format("loader: fixed annotator {} is not in [0, {})", o.annotator, info.annotators));
  PSAM_CHECK(o.annotators != AnnotatorMode::kAll || o.prompt != PromptSource::kAnnotator,
             "loader: prompt source 'annotator' needs one annotator per sample; with all "
             "annotators use union or majority");
  PSAM_CHECK(o.intensity != IntensityMapping::kWindow || info.intensity == Intensity::kHu,
             "loader: the HU window applies to HU stores; " + store_->dir() + " holds '" +
                 to_string(info.intensity) + "' images (use auto or minmax)");
  PSAM_CHECK(o.box_jitter >= 0 && o.box_jitter <= 1, "loader: box jitter must be in [0, 1]");
  PSAM_CHECK(o.shard_count >= 1 && o.shard_rank >= 0 && o.shard_rank < o.shard_count,
             fmt::format("loader: shard {} of {} does not exist", o.shard_rank, o.shard_count));
  std::sort(indices_.begin(), indices_.end());

  pipeline_ = std::make_unique<Pipeline>();
  for (int64_t t = 0; t < o.workers; ++t) {
    pipeline_->threads.emplace_back([this] {
      Pipeline& p = *pipeline_;
      std::unique_lock<std::mutex> lock(p.mutex);
      for (;;) {
        const int64_t capacity = options_.workers * options_.prefetch;
        p.work_cv.wait(lock, [&] {
          return p.stop || (p.next_to_make < batches_per_epoch() &&
                            p.next_to_make < p.position.batch + capacity);
        });
        if (p.stop) return;
        const LoaderPosition job{p.position.epoch, p.next_to_make++};
        const int64_t generation = p.generation;
        lock.unlock();
        Pipeline::Result result;
        try {
          result.batch = make_batch(job);
        } catch (...) {
          result.error = std::current_exception();
        }
        lock.lock();
        if (generation == p.generation) {
          p.done[job.batch] = std::move(result);
          p.done_cv.notify_all();
        }
      }
    });
  }
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(pipeline_->mutex);
    pipeline_->stop = true;
  }
  pipeline_->work_cv.notify_all();
  for (auto& t : pipeline_->threads) t.join();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = size(), b = options_.batch_size * options_.shard_count;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

LoaderPosition Loader::position() const {
  std::lock_guard<std::mutex> lock(pipeline_->mutex);
  return pipeline_->position;
}

void Loader::seek(const LoaderPosition& position) {
  PSAM_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch <= batches_per_epoch(),
             fmt::format("loader: cannot seek to epoch {} batch {} ({} batches per epoch)",
                         position.epoch, position.batch, batches_per_epoch()));
  begin(position);
}

void Loader::begin(const LoaderPosition& position) {
  {
    std::lock_guard<std::mutex> lock(pipeline_->mutex);
    Pipeline& p = *pipeline_;
    p.position = position;
    p.next_to_make = position.batch;
    ++p.generation;
    p.done.clear();
  }
  pipeline_->work_cv.notify_all();
}

std::optional<Batch> Loader::next() {
  Pipeline& p = *pipeline_;
  LoaderPosition at;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    at = p.position;
  }
  if (at.batch >= batches_per_epoch()) {
    begin({at.epoch + 1, 0});
    return std::nullopt;
  }
  if (options_.workers == 0) {
    Batch batch = make_batch(at);
    begin({at.epoch, at.batch + 1});
    return batch;
  }
  std::unique_lock<std::mutex> lock(p.mutex);
  p.done_cv.wait(lock, [&] { return p.done.count(at.batch) != 0; });
  Pipeline::Result result = std::move(p.done[at.batch]);
  p.done.erase(at.batch);
  if (result.error) {
    // Stay at this batch: a retry makes it again.
    p.next_to_make = at.batch;
    ++p.generation;
    p.done.clear();
    lock.unlock();
    p.work_cv.notify_all();
    std::rethrow_exception(result.error);
  }
  ++p.position.batch;
  lock.unlock();
  p.work_cv.notify_all();
  return std::move(result.batch);
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order = indices_;
  if (options_.shuffle) {
    Rng rng({options_.seed, kOrderStream, static_cast<uint64_t>(epoch)});
    shuffle(order, rng);
  }
  return order;
}

Batch Loader::make_batch(const LoaderPosition& position) const {
  const LoaderOptions& o = options_;
  const DatasetInfo& info = store_->info();
  const int64_t h = info.height, w = info.width, k = info.annotators, hw = h * w;
  const int64_t s = o.input_size;
  const auto [nh, nw] = s > 0 ? geometry::ResizeLongestSide::get_preprocess_shape(h, w, s)
                              : std::array<int64_t, 2>{h, w};
  const std::vector<int64_t> order = epoch_order(position.epoch);
  const int64_t global_first = position.batch * o.batch_size * o.shard_count;
  const int64_t global_count = std::min<int64_t>(o.batch_size * o.shard_count,
                                                 static_cast<int64_t>(order.size()) - global_first);
  PSAM_CHECK(global_count > 0,
             fmt::format("loader: epoch {} has no batch {}", position.epoch, position.batch));
  const int64_t first = global_first + std::min(global_count, o.shard_rank * o.batch_size);
  const int64_t count = std::min(o.batch_size, global_first + global_count - first);
  const int64_t kept = o.annotators == AnnotatorMode::kAll ? k : 1;
  const int64_t mh = o.resize_masks ? s : h, mw = o.resize_masks ? s : w;

  Batch batch;
  batch.position = position;
  // Allocated uninitialised and filled below (padding included): a large torch::zeros would
  // fan out onto the intra-op thread pool from every loader thread at once.
  if (s > 0) batch.image = torch::empty({count, 3, s, s}, torch::kFloat);
  batch.masks = torch::empty({count, kept, mh, mw}, torch::kByte);
  batch.box = torch::empty({count, 4}, torch::kFloat);
  batch.image_box = torch::empty({count, 4}, torch::kFloat);
  batch.annotator = torch::empty({count}, torch::kLong);
  if (o.raw_image) batch.raw_image = torch::empty({count, 3, h, w}, torch::kFloat);
  float* image_out = s > 0 ? batch.image.data_ptr<float>() : nullptr;
  uint8_t* masks_out = batch.masks.data_ptr<uint8_t>();
  float* box_out = batch.box.data_ptr<float>();
  float* image_box_out = batch.image_box.data_ptr<float>();
  float* raw_out = o.raw_image ? batch.raw_image.data_ptr<float>() : nullptr;
  std::vector<uint8_t> prompt(hw);
  const bool transformed = !o.view.is_identity() || o.augment.enabled();
  batch.size = {h, w};
  batch.global_count = global_count;

  for (int64_t b = 0; b < count; ++b) {
    const int64_t i = order[first + b];
    batch.index.push_back(i);
    batch.ids.push_back(store_->meta()[i].id);
    Rng rng({o.seed, kSampleStream, static_cast<uint64_t>(position.epoch),
             static_cast<uint64_t>(first + b)});
    const int64_t annotator = o.annotators == AnnotatorMode::kRandomOne ? rng.below(k)
                              : o.annotators == AnnotatorMode::kFixed   ? o.annotator
                                                                        : -1;
    batch.annotator.data_ptr<int64_t>()[b] = annotator;

    // The sample at store size, moved by the view and the augmentation where they are on.
    const at::Tensor sample_masks = store_->masks()[i].contiguous();
    const uint8_t* all = sample_masks.data_ptr<uint8_t>();
    SamplePlanes planes{
        unit_pixels(store_->images()[i], info.intensity, o), {}, info.channels, h, w, k};
    if (transformed) {
      prompt_mask(all, k, h, w, o.prompt, annotator, prompt.data());
      planes.masks.assign(all, all + k * hw);
      transform_sample(o.view, o.augment, {o.seed, position.epoch, first + b},
                       box_from_mask(prompt.data(), h, w), planes);
      all = planes.masks.data();
    }

    // Image: [0,1], resized, 3 channels, SAM-normalised into the top-left of the S x S frame.
    fill_frame(planes.unit, info.channels, h, w, o, image_out ? image_out + b * 3 * s * s : nullptr,
               raw_out ? raw_out + b * 3 * hw : nullptr);

    // Masks: the chosen annotator (or all), at store size or resized into the frame.
    for (int64_t m = 0; m < kept; ++m) {
      const uint8_t* src = all + (kept == k ? m : annotator) * hw;
      uint8_t* dst = masks_out + (b * kept + m) * mh * mw;
      if (o.resize_masks) {
        std::fill(dst, dst + s * s, uint8_t{0});
        geometry::resize_nearest(src, h, w, dst, nh, nw, s);
      } else {
        std::copy(src, src + hw, dst);
      }
    }

    // Box: from the prompt mask at store size, jittered, then scaled into the frame as SAM's
    // ResizeLongestSide.apply_boxes does.
    prompt_mask(all, k, h, w, o.prompt, annotator, prompt.data());
    Box box = box_from_mask(prompt.data(), h, w);
    if (o.box_jitter > 0) {
      std::array<double, 4> u;
      for (double& v : u) v = rng.uniform(-1, 1);
      box = jitter_box(box, u, o.box_jitter, h, w);
    }
    write_box(box, h, w, s, image_box_out + b * 4, box_out + b * 4);
  }
  return batch;
}

}  // namespace psam::data
