// Model structure (official names and shapes), config inference and the decoder batching modes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/sam/sam.h"
#include "psam/util/error.h"
#include "psam/sam/config_json.h"
#include "support/golden.h"

namespace psam {
namespace {

// Small but with everything non-default: padded windows, two global blocks, decoder depth 3,
// downsample rate 4, 2-layer IoU head, 4 multimask outputs.
sam::SamConfig odd_config() {
  sam::SamConfig c;
  c.img_size = 96;
  c.patch_size = 8;
  c.encoder_embed_dim = 40;
  c.encoder_depth = 4;
  c.encoder_num_heads = 5;
  c.mlp_ratio = 1.5;
  c.window_size = 5;
  c.encoder_global_attn_indexes = {0, 2};
  c.prompt_embed_dim = 32;
  c.mask_in_chans = 8;
  c.decoder_depth = 3;
  c.decoder_num_heads = 2;
  c.decoder_mlp_dim = 48;
  c.attention_downsample_rate = 4;
  c.num_multimask_outputs = 4;
  c.iou_head_depth = 2;
  c.iou_head_hidden_dim = 20;
  return c;
}

std::string shape_str(const at::Tensor& t) {
  std::string s;
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "x" : "") + std::to_string(t.size(d));
  return s;
}

TEST(SamStateDict, VitBMatchesOfficialKeysNamesShapesAndDtypes) {
  const char* env = std::getenv("PSAM_GOLDEN_DIR");
  const auto path = std::filesystem::absolute(env && *env ? env : "../shared/golden") /
                    "sam_vit_b_state_dict_keys.txt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
  std::ifstream in(path);
  std::vector<std::string> expected, actual;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) expected.push_back(line);
  const auto model = sam::build_sam(sam::vit_b());
  for (const auto& [name, t] : io::state_dict(*model)) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
    actual.push_back(name + "\t" + shape_str(t) + "\tfloat32");
  }
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(actual[i], expected[i]) << "entry " << i;
}

TEST(SamConfig, PresetsFollowTheOfficialBuilders) {
  EXPECT_EQ(sam::preset("vit_b"), sam::vit_b());
  const auto l = sam::preset("vit_l"), h = sam::preset("vit_h");
  EXPECT_EQ(l.encoder_embed_dim, 1024);
  EXPECT_EQ(l.encoder_depth, 24);
  EXPECT_EQ(l.encoder_global_attn_indexes, (std::vector<int64_t>{5, 11, 17, 23}));
  EXPECT_EQ(h.encoder_embed_dim, 1280);
  EXPECT_EQ(h.encoder_depth, 32);
  EXPECT_EQ(h.encoder_num_heads, 16);
  EXPECT_EQ(h.encoder_global_attn_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_THROW(sam::preset("vit_x"), Error);
}

TEST(SamConfig, ValidateNamesTheBadField) {
  auto c = sam::vit_b();
  c.encoder_num_heads = 7;
  try {
    c.validate();
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder_embed_dim per encoder head"), std::string::npos)
        << e.what();
  }
  c = sam::vit_b();
  c.encoder_global_attn_indexes = {2, 12};
  EXPECT_THROW(c.validate(), Error);
  c = sam::vit_b();
  c.prompt_embed_dim = 100;  // not a multiple of 8
  EXPECT_THROW(sam::build_sam(c), Error);
}

TEST(SamConfig, InferredFromStateDictShapes) {
  const auto b = sam::vit_b();
  EXPECT_EQ(sam::infer_sam_config(io::state_dict(*sam::build_sam(b))), b);
  const auto odd = odd_config();
  EXPECT_EQ(sam::infer_sam_config(io::state_dict(*sam::build_sam(odd)), odd.decoder_num_heads),
            odd);
  io::TensorDict not_sam;
  not_sam.insert("encoder.0.weight", torch::zeros({1}));
  EXPECT_THROW(sam::infer_sam_config(not_sam), Error);
}

TEST(SamConfig, InferredFromGoldenCheckpoint) {
  std::string why;
  const auto set = support::find_golden_set(&why);
  if (!set) GTEST_SKIP() << why;
  const auto expected = sam::read_sam_config_json(set->file("config", ".json"));
  EXPECT_EQ(
      sam::infer_sam_config(io::read_tensors(set->file("sam", ".pth")), expected.decoder_num_heads),
      expected);
}

TEST(SamJson, ReadsTheGoldenSchemaAndRejectsBadValues) {
  const auto c = sam::sam_config_from_json(
      nlohmann::json::parse(R"({"img_size": 128, "patch": 16, "embed_dim": 64, "depth": 4,
        "heads": 4, "global_idx": [1, 3], "window": 4, "prompt_dim": 32, "dec_heads": 4,
        "dec_mlp": 64, "iou_hidden": 32, "mask_in_chans": 16, "seed": 1, "latent": 6,
        "orig_size": [100, 150]})"),
      "tiny.json");
  EXPECT_EQ(c.img_size, 128);
  EXPECT_EQ(c.patch_size, 16);
  EXPECT_EQ(c.encoder_global_attn_indexes, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.decoder_mlp_dim, 64);
  EXPECT_EQ(c.iou_head_hidden_dim, 32);
  EXPECT_EQ(c.decoder_depth, 2);
  try {
    sam::sam_config_from_json(nlohmann::json::parse(R"({"heads": "four"})"), "bad.json");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: key 'heads'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sam::sam_config_from_json(nlohmann::json::parse(R"({"window": -1})"), "w.json"),
               Error);
}

class SamSmall : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(11);
    model_ = sam::build_sam(odd_config());
    // Random (not zero-initialised) relative positions and embeddings everywhere.
    torch::NoGradGuard no_grad;
    for (auto& p : model_->parameters()) p.normal_(0, 0.3);
  }
  sam::PromptInputs prompts(int64_t b) {
    sam::PromptInputs in;
    in.point_coords = torch::rand({b, 3, 2}) * 96;
    in.point_labels = torch::randint(-1, 2, {b, 3}, torch::kLong);
    in.boxes = torch::tensor({10.f, 5.f, 60.f, 70.f}).repeat({b, 1});
    in.masks = torch::randn({b, 1, 48, 48});
    return in;
  }
  sam::Sam model_{nullptr};
};

TEST_F(SamSmall, PaddingPointOnlyWithoutBox) {
  torch::NoGradGuard no_grad;
  auto in = prompts(2);
  EXPECT_EQ(model_->prompt_encoder(in).sparse.sizes(), (std::vector<int64_t>{2, 5, 32}));
  in.boxes = at::Tensor();
  const auto out = model_->prompt_encoder(in);
  EXPECT_EQ(out.sparse.sizes(), (std::vector<int64_t>{2, 4, 32}));
  // The padding token is exactly the not-a-point embedding.
  EXPECT_TRUE(out.sparse[1][3].equal(model_->prompt_encoder->not_a_point_embed->weight[0]));
  in.masks = at::Tensor();
  EXPECT_TRUE(model_->prompt_encoder(in).dense[1].equal(
      model_->prompt_encoder->no_mask_embed->weight.view({32, 1, 1}).expand({32, 12, 12})));
  in.point_labels = torch::zeros({2, 2}, torch::kLong);
  EXPECT_THROW(model_->prompt_encoder(in), Error);
}

// Paired batching (B embeddings, B prompts) gives, for each item, what shared batching gives
// for that item's embedding alone.
TEST_F(SamSmall, PairedBatchingEqualsSharedPerItem) {
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({3, 3, 96, 96});
  const auto emb = model_->image_encoder(images);
  const auto pe = model_->prompt_encoder->get_dense_pe();
  const auto p = model_->prompt_encoder(prompts(3));
  const auto paired =
      model_->mask_decoder(emb, pe, p.sparse, p.dense, true, sam::EmbeddingBatching::kPaired);
  EXPECT_EQ(paired.masks.sizes(), (std::vector<int64_t>{3, 4, 48, 48}));
  EXPECT_EQ(paired.iou_pred.sizes(), (std::vector<int64_t>{3, 4}));
  for (int64_t i = 0; i < 3; ++i) {
    const auto one =
        model_->mask_decoder(emb.slice(0, i, i + 1), pe, p.sparse.slice(0, i, i + 1),
                             p.dense.slice(0, i, i + 1), true, sam::EmbeddingBatching::kShared);
    EXPECT_TRUE(support::tensors_close("masks", paired.masks.slice(0, i, i + 1), one.masks, 1e-5));
    EXPECT_TRUE(support::tensors_close("iou", paired.iou_pred.slice(0, i, i + 1), one.iou_pred, 1e-5));
  }
  // Shared: one embedding for all three prompts; single-mask output is mask token 0.
  const auto shared = model_->mask_decoder(emb.slice(0, 0, 1), pe, p.sparse, p.dense, false);
  EXPECT_EQ(shared.masks.sizes(), (std::vector<int64_t>{3, 1, 48, 48}));
  const auto all = model_->mask_decoder->predict_masks(emb.slice(0, 0, 1), pe, p.sparse, p.dense,
                                                       sam::EmbeddingBatching::kShared);
  EXPECT_TRUE(shared.masks.equal(all.masks.slice(1, 0, 1)));
  EXPECT_THROW(model_->mask_decoder(emb, pe, p.sparse, p.dense, true), Error);  // 3 != 1
  EXPECT_THROW(model_->mask_decoder(emb.slice(0, 0, 2), pe, p.sparse, p.dense, true,
                                    sam::EmbeddingBatching::kPaired),
               Error);
}

}  // namespace
}  // namespace psam
