// `psam data preview STORE --augment CONFIG --out grid.png`: what the training augmentation does,
// as a picture. One row per sample: the sample as stored, then several augmented draws (the
// epochs 0, 1, ... of the training loader), each the [0, 1] image with every annotator's outline
// and the prompt box drawn.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"
#include "psam/data/loader/loader.h"
#include "psam/data/store/store.h"

namespace psam::cli {

// The grid as uint8 [H,W,3]: for each of `indices`, the un-augmented sample and `draws`
// augmentations under `options` (its augment, intensity, prompt and box jitter are used).
at::Tensor augment_preview(std::shared_ptr<const data::DatasetStore> store,
                           const std::vector<int64_t>& indices, data::LoaderOptions options,
                           int64_t draws);

// Registers `psam data preview` under `psam data`.
void add_preview_command(CLI::App& data, Io io, int& rc);

}  // namespace psam::cli
