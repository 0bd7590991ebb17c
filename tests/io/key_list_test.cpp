#include "psam/io/key_list.h"

#include "io/io_testing.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;

TEST(KeyList, ReadsTheOfficialVitBList) {
  PSAM_REQUIRE_GOLDEN();
  const auto keys =
      psam::io::read_key_list(psam::testing::golden_dir() + "/sam_vit_b_state_dict_keys.txt");
  ASSERT_EQ(keys.size(), 314u);  // the file's line count
  EXPECT_EQ(keys.front().name, "image_encoder.pos_embed");
  EXPECT_EQ(keys.front().shape, (std::vector<int64_t>{1, 64, 64, 768}));
  EXPECT_EQ(keys.front().dtype, at::kFloat);
  EXPECT_EQ(keys.back().name, "mask_decoder.iou_prediction_head.layers.2.bias");
  EXPECT_EQ(keys.back().shape, (std::vector<int64_t>{4}));
}

TEST(KeyList, ComparesAgainstTensors) {
  TempDir dir;
  const std::string path = dir.file("keys.txt");
  psam::testing::write_bytes(path,
                             "a.weight\t2x3\tfloat32\na.bias\t2\tfloat32\r\n\nstep\t\tint64\n");
  const auto keys = psam::io::read_key_list(path);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_TRUE(keys[2].shape.empty());
  psam::io::TensorDict t;
  t.insert("a.weight", at::zeros({2, 3}));
  t.insert("a.bias", at::zeros({2}));
  t.insert("step", at::scalar_tensor(1, at::kLong));
  EXPECT_TRUE(psam::io::compare_key_list(keys, t).empty());

  psam::io::TensorDict wrong;
  wrong.insert("a.weight", at::zeros({3, 2}));
  wrong.insert("step", at::scalar_tensor(1, at::kInt));
  wrong.insert("extra", at::zeros({1}));
  EXPECT_EQ(psam::io::compare_key_list(keys, wrong),
            (std::vector<std::string>{"a.weight: shape [3,2] expected [2,3]", "missing: a.bias",
                                      "step: dtype int32 expected int64", "unexpected: extra"}));
}

TEST(KeyList, MalformedLinesNameTheLine) {
  TempDir dir;
  const std::string path = dir.file("keys.txt");
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"ok\t2\tfloat32\nbad line\n", "keys.txt:2"},
           {"x\t2x\tfloat32\n", "AxBxC"},
           {"x\t2\tfloat128\n", "unknown dtype 'float128'"},
           {"x\t2\tfloat32\textra\n", "name<TAB>shape<TAB>dtype"}}) {
    psam::testing::write_bytes(path, text);
    try {
      psam::io::read_key_list(path);
      ADD_FAILURE() << text;
    } catch (const psam::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace
