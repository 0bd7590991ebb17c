#include "psam/sam/image_encoder.h"

#include <gtest/gtest.h>


#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/util/error.h"
#include "psam/sam/config_json.h"
#include "support/attention_paths.h"
#include "support/golden.h"
#include "support/testing.h"

namespace psam {
namespace {

TEST(WindowPartition, PadsToWholeWindowsAndRoundTrips) {
  const auto x = torch::randn({2, 10, 7, 5});
  const auto [windows, pad_hw] = sam::window_partition(x, 4);
  EXPECT_EQ(pad_hw, (std::array<int64_t, 2>{12, 8}));
  EXPECT_EQ(windows.sizes(), (std::vector<int64_t>{2 * 3 * 2, 4, 4, 5}));
  // Window (row 0, col 1) of image 1 holds x[1, 0:4, 4:7] and one column of zero padding.
  const auto w = windows[1 * 6 + 0 * 2 + 1];
  EXPECT_TRUE(w.slice(1, 0, 3).equal(x[1].slice(0, 0, 4).slice(1, 4, 7)));
  EXPECT_EQ(w.slice(1, 3, 4).abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(sam::window_unpartition(windows, 4, pad_hw, {10, 7}).equal(x));
}

TEST(RelPos, TableIndexedByOffset) {
  // Row q, column k holds the embedding of offset q - k, stored at index q - k + size - 1.
  const auto table = torch::arange(7 * 2, torch::kFloat).view({7, 2});
  const auto r = sam::get_rel_pos(4, 4, table);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{4, 4, 2}));
  for (int q = 0; q < 4; ++q)
    for (int k = 0; k < 4; ++k) EXPECT_TRUE(r[q][k].equal(table[q - k + 3]));
  EXPECT_THROW(sam::get_rel_pos(5, 5, table), Error);
}

// The golden set's windows tile its grid exactly; ViT-B's 64x64 grid needs 14x14 windows with
// padding. Compare with an independent plain-PyTorch encoder on a grid that needs padding, a
// non-integer MLP ratio and more than one global block.
TEST(ImageEncoderViT, MatchesPythonReferenceWithPaddedWindows) {
  if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  support::TempDir tmp;
  const auto dump_path = tmp.path() + "/ref.pth";
  const auto cfg_path =
      tmp.write("config.json", R"({"img_size": 176, "patch": 16, "embed_dim": 48, "depth": 4,
      "heads": 3, "window": 4, "global_idx": [1, 3], "prompt_dim": 32, "mlp_ratio": 2.5})");
  const std::string cmd = std::string(PSAM_PYTHON " ") + PSAM_SOURCE_DIR +
                          "/tools/bench/sam_encoder_ref.py dump --seed 7 --batch 2 --config " +
                          cfg_path + " --out " + dump_path;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  const auto config = sam::read_sam_config_json(cfg_path);  // grid 11: windows pad 11 -> 12
  sam::ImageEncoderViT encoder(config);
  const auto ref = io::read_tensors(dump_path);
  io::load_state_dict(*encoder, ref, "image_encoder.", dump_path);
  torch::NoGradGuard no_grad;
  for (const auto path : support::attention_paths()) {
    const ScopedAttentionPath use(path);
    const std::string on = std::string(" (") + name_of(path) + " attention)";
    encoder->set_attention_chunk_elements(sam::kDefaultAttentionChunkElements);
    EXPECT_TRUE(support::tensors_close("output" + on, encoder(ref.at("input")), ref.at("output")));
    // Attention in chunks: 1000 scores split windowed attention into groups of 3 heads and global
    // attention into single query rows; 5000 into 3 rows (11 = 3+3+3+2).
    for (int64_t budget : {1000, 5000}) {
      encoder->set_attention_chunk_elements(budget);
      EXPECT_TRUE(support::tensors_close("output, chunks of " + std::to_string(budget) + on,
                                         encoder(ref.at("input")), ref.at("output")));
    }
  }
}

TEST(ImageEncoderViT, RejectsWrongInputSize) {
  sam::SamConfig c;
  c.img_size = 64;
  c.encoder_embed_dim = 32;
  c.encoder_depth = 1;
  c.encoder_num_heads = 2;
  c.window_size = 2;
  c.encoder_global_attn_indexes = {};
  c.prompt_embed_dim = 16;
  sam::ImageEncoderViT encoder(c);
  EXPECT_THROW(encoder(torch::zeros({1, 3, 32, 64})), Error);
}

}  // namespace
}  // namespace psam
