#include "data_preview.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <array>
#include <memory>

#include "cli.h"
#include "config/config.h"
#include "psam/eval/label_text.h"
#include "psam/eval/tiles.h"
#include "psam/io/image.h"
#include "psam/util/error.h"

namespace psam::cli {
namespace {

// Outline colours of annotators 1, 2, ... (then repeated); the box is yellow.
constexpr std::array<std::array<float, 3>, 4> kRaterColours = {
    {{1.0f, 0.2f, 0.2f}, {0.2f, 0.6f, 1.0f}, {0.2f, 1.0f, 0.3f}, {1.0f, 0.4f, 1.0f}}};

// The pixels of a bool mask [H,W] with a 4-neighbour outside it.
at::Tensor outline(const at::Tensor& mask) {
  const at::Tensor m = mask.to(torch::kFloat).unsqueeze(0).unsqueeze(0);
  const at::Tensor eroded = -torch::max_pool2d(-m, {3, 3}, {1, 1}, {1, 1});
  return (m - eroded).squeeze(0).squeeze(0) > 0;
}

void paint(at::Tensor& tile, const at::Tensor& where, std::array<float, 3> rgb) {
  for (int c = 0; c < 3; ++c) tile[c].masked_fill_(where, rgb[c]);
}

// One sample of a batch: image, outlines, box, enlarged by `factor`.
at::Tensor sample_tile(const data::Batch& b, int64_t i, int64_t factor) {
  at::Tensor tile = eval::enlarge(b.raw_image[i].clamp(0, 1), factor).clone();
  const int64_t h = tile.size(1), w = tile.size(2);
  for (int64_t k = 0; k < b.masks.size(1); ++k) {
    const at::Tensor big = eval::enlarge(b.masks[i][k].unsqueeze(0), factor)[0];
    paint(tile, outline(big > 0), kRaterColours[k % kRaterColours.size()]);
  }
  const at::Tensor box = b.image_box[i].to(torch::kDouble);
  // Pixel indices, max inclusive: the rectangle around those pixels' enlarged squares.
  auto edge = [&](int c, bool last, int64_t limit) {
    const double v = box[c].item<double>();
    return std::clamp<int64_t>(
        static_cast<int64_t>(std::round(last ? (v + 1) * factor - 1 : v * factor)), 0, limit - 1);
  };
  const int64_t x0 = edge(0, false, w), y0 = edge(1, false, h), x1 = edge(2, true, w),
                y1 = edge(3, true, h);
  using torch::indexing::Slice;
  at::Tensor frame = torch::zeros({h, w}, torch::kBool);
  frame.index_put_({Slice(y0, y1 + 1), x0}, true);
  frame.index_put_({Slice(y0, y1 + 1), x1}, true);
  frame.index_put_({y0, Slice(x0, x1 + 1)}, true);
  frame.index_put_({y1, Slice(x0, x1 + 1)}, true);
  paint(tile, frame, {1.0f, 0.9f, 0.1f});
  return tile;
}

struct PreviewArgs {
  std::string store, config, out, split = "train";
  int64_t cases = 4, draws = 5, seed = 0;
  std::vector<std::string> overrides;
};

void run_preview(const PreviewArgs& a, Io io) {
  PSAM_CHECK(a.cases >= 1 && a.draws >= 1, "psam data preview: --cases and --draws must be >= 1");
  const auto c = config::load<config::Config>(a.config, a.overrides);
  PSAM_CHECK(
      c.data.augment.enabled(),
      fmt::format("{}: data.augment sets no transformation (every probability is 0)", a.config));
  auto store = std::make_shared<const data::DatasetStore>(data::DatasetStore::open(a.store));
  std::vector<int64_t> indices = store->split_indices(a.split);
  indices.resize(std::min<size_t>(indices.size(), static_cast<size_t>(a.cases)));
  data::LoaderOptions o = c.data.loader;
  o.augment = c.data.augment;
  o.seed = static_cast<uint64_t>(a.seed);
  const at::Tensor grid = augment_preview(store, indices, o, a.draws);
  io::write_image(a.out, grid);
  io.out << fmt::format("{}: {} samples of {} ({}), each as stored and in {} augmented draws\n",
                        a.out, indices.size(), a.store, a.split, a.draws);
}

}  // namespace

at::Tensor augment_preview(std::shared_ptr<const data::DatasetStore> store,
                           const std::vector<int64_t>& indices, data::LoaderOptions o,
                           int64_t draws) {
  PSAM_CHECK(!indices.empty(), "augment_preview: no samples to draw");
  // The store's own frame: the [0, 1] image, every annotator's mask and the box at store size.
  o.input_size = 0;
  o.raw_image = true;
  o.resize_masks = false;
  o.shuffle = false;
  o.workers = 0;
  o.batch_size = static_cast<int64_t>(indices.size());
  if (o.prompt != data::PromptSource::kAnnotator) o.annotators = data::AnnotatorMode::kAll;
  data::LoaderOptions plain = o;
  plain.augment = {};
  plain.box_jitter = 0;
  const auto& info = store->info();
  const int64_t factor = eval::tile_factor(std::max(info.height, info.width));
  std::vector<data::Batch> columns = {data::Loader(store, indices, plain).make_batch({0, 0})};
  const data::Loader augmented(store, indices, o);
  for (int64_t e = 0; e < draws; ++e) columns.push_back(augmented.make_batch({e, 0}));

  std::vector<at::Tensor> rows, labels;
  for (size_t col = 0; col < columns.size(); ++col)
    labels.push_back(eval::label_strip(col == 0 ? "stored" : fmt::format("draw {}", col),
                                       info.width * factor, /*centred=*/true));
  rows.push_back(eval::join(labels, 2));
  // The loader keeps its samples in store order.
  for (int64_t i = 0; i < static_cast<int64_t>(indices.size()); ++i) {
    std::vector<at::Tensor> tiles;
    for (const auto& b : columns) tiles.push_back(sample_tile(b, i, factor));
    rows.push_back(eval::join(tiles, 2));
  }
  return eval::to_rgb8(eval::join(rows, 1));
}

void add_preview_command(CLI::App& data, Io io, int& rc) {
  auto* cmd = data.add_subcommand(
      "preview", "Draw samples with their training augmentations, masks and boxes into a PNG");
  auto a = std::make_shared<PreviewArgs>();
  cmd->add_option("STORE", a->store, "dataset store")->required();
  cmd->add_option("--augment", a->config,
                  "a config whose data.augment (and data.loader) to apply, e.g. a run's config")
      ->required();
  cmd->add_option("--out", a->out, "PNG file to write")->required();
  cmd->add_option("--split", a->split, "store split to draw from")->capture_default_str();
  cmd->add_option("--cases", a->cases, "samples (rows)")->capture_default_str();
  cmd->add_option("--draws", a->draws, "augmented draws per sample (columns)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "augmentation seed (a run uses run.seed)")
      ->capture_default_str();
  cmd->add_option("overrides", a->overrides, "config overrides key=value");
  cmd->callback([a, io, &rc] {
    run_preview(*a, io);
    rc = 0;
  });
}

}  // namespace psam::cli
