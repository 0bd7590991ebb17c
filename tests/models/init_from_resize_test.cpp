// model.init_from with weights made for a larger input: a 1024 px SAM state dict loads into 256 px
// models of every SAM kind, pos_embed resized bicubically and the global blocks' relative-position
// tables linearly, each checked against a resampling written out here from the definitions
// (Keys' cubic convolution, a = -0.75; half-pixel centres; edge samples repeated).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/sam/sam.h"
#include "support/testing.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

// Output sample i of n from m inputs: its source position with half-pixel centres.
double source_position(int64_t i, int64_t n, int64_t m) {
  return (static_cast<double>(i) + 0.5) * static_cast<double>(m) / static_cast<double>(n) - 0.5;
}

double cubic_weight(double d) {  // Keys' kernel, a = -0.75 (PyTorch's bicubic)
  const double a = -0.75, x = std::abs(d);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// [m, k] -> [n, k] along dim 0: cubic (bicubic's 1-D pass) or linear.
at::Tensor resample_rows(const at::Tensor& x, int64_t n, bool cubic) {
  const int64_t m = x.size(0);
  auto out = torch::zeros({n, x.size(1)}, torch::kDouble);
  const auto in = x.to(torch::kDouble);
  const auto clamp = [&](int64_t j) { return std::min(std::max<int64_t>(j, 0), m - 1); };
  for (int64_t i = 0; i < n; ++i) {
    double s = source_position(i, n, m);
    if (!cubic) s = std::max(s, 0.0);
    const auto j0 = static_cast<int64_t>(std::floor(s));
    const double t = s - static_cast<double>(j0);
    if (cubic) {
      for (int64_t k = -1; k <= 2; ++k)
        out[i] += cubic_weight(t - static_cast<double>(k)) * in[clamp(j0 + k)];
    } else {
      out[i] = (1 - t) * in[clamp(j0)] + t * in[clamp(j0 + 1)];
    }
  }
  return out;
}

sam::SamConfig sam_at(int64_t img_size) {
  sam::SamConfig s = test::tiny_sam();
  s.img_size = img_size;
  s.patch_size = 16;
  s.encoder_embed_dim = 8;
  s.window_size = 14;
  return s;
}

TEST(InitFromResize, A1024StateDictLoadsInto256ModelsOfEverySamKind) {
  support::TempDir dir;
  torch::manual_seed(21);
  const io::TensorDict big = io::state_dict(*sam::build_sam(sam_at(1024)));
  const std::string file = dir.path() + "/sam_1024.pth";
  io::write_pth(file, big);
  const at::Tensor pos = big.at("image_encoder.pos_embed");  // [1,64,64,8]
  ASSERT_EQ(pos.sizes(), (std::vector<int64_t>{1, 64, 64, 8}));
  // Separable bicubic: rows, then columns.
  const at::Tensor hw = pos[0].reshape({64, 64 * 8});
  const at::Tensor rows = resample_rows(hw, 16, true).reshape({16, 64, 8});
  const at::Tensor expected_pos =
      resample_rows(rows.permute({1, 0, 2}).reshape({64, 16 * 8}), 16, true)
          .reshape({16, 16, 8})
          .permute({1, 0, 2})
          .unsqueeze(0);
  const at::Tensor rel = big.at("image_encoder.blocks.1.attn.rel_pos_h");  // global block
  ASSERT_EQ(rel.size(0), 127);
  const at::Tensor expected_rel = resample_rows(rel, 31, false);

  for (const std::string kind : {"prob_sam", "adapter_sam", "mc_dropout_sam", "ua_sam"}) {
    ModelConfig c = test::tiny_model("none");
    c.kind = kind;
    c.prob.sam = sam_at(256);
    c.init_from = file;
    const auto state = io::state_dict(build_model(c, torch::kCPU)->module());
    const auto close = [](const at::Tensor& a, const at::Tensor& b) {
      return a.sizes() == b.sizes() && torch::allclose(a.to(torch::kDouble), b, 1e-5, 1e-6);
    };
    EXPECT_TRUE(close(state.at("sam.image_encoder.pos_embed"), expected_pos)) << kind;
    EXPECT_TRUE(close(state.at("sam.image_encoder.blocks.1.attn.rel_pos_h"), expected_rel)) << kind;
    EXPECT_TRUE(close(state.at("sam.image_encoder.blocks.1.attn.rel_pos_w"),
                      resample_rows(big.at("image_encoder.blocks.1.attn.rel_pos_w"), 31, false)))
        << kind;
    // The windowed block's tables span its window, not the image: taken as they are.
    EXPECT_TRUE(torch::equal(state.at("sam.image_encoder.blocks.0.attn.rel_pos_h"),
                             big.at("image_encoder.blocks.0.attn.rel_pos_h")))
        << kind;
    EXPECT_TRUE(torch::equal(state.at("sam.image_encoder.patch_embed.proj.weight"),
                             big.at("image_encoder.patch_embed.proj.weight")))
        << kind;
  }
}

}  // namespace
}  // namespace psam::models
