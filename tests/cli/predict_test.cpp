// psam predict end to end, in-process, on the golden tiny checkpoint: the files it writes must
// hold exactly what the library predictor computes for the same image and prompts.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "psam/io/image.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/sam/predictor.h"
#include "psam/util/fs.h"
#include "psam/sam/config_json.h"
#include "support/golden.h"
#include "support/testing.h"

namespace psam {
namespace {

namespace fs = std::filesystem;

class PredictCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const auto set = support::find_golden_set(&why);
    if (!set) GTEST_SKIP() << why;
    checkpoint_ = set->file("sam", ".pth");
    config_ = set->file("config", ".json");
    // A smooth RGB test image, not square, so resizing and cropping matter.
    const auto y = torch::arange(90, torch::kFloat).view({-1, 1, 1});
    const auto x = torch::arange(140, torch::kFloat).view({1, -1, 1});
    const auto c = torch::tensor({1.f, 2.f, 3.f}).view({1, 1, 3});
    image_path_ = tmp_.path() + "/input.png";
    io::write_image(image_path_, ((x * c + y * 2) % 256).to(torch::kUInt8));
  }

  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return cli::run(args, {out_, err_});
  }

  std::vector<std::string> base_args(const std::string& out_dir) const {
    return {"predict", "--checkpoint", checkpoint_, "--image", image_path_, "--out", out_dir};
  }

  support::TempDir tmp_;
  std::string checkpoint_, config_, image_path_;
  std::ostringstream out_, err_;
};

TEST_F(PredictCommand, WritesMasksOverlayAndIousOfTheLibraryPredictor) {
  const auto out_dir = tmp_.path() + "/out";
  auto args = base_args(out_dir);
  for (const char* a : {"--model", config_.c_str(), "--box", "10,12,100,70", "--point", "50,40,1",
                        "--point", "120,80,0"})
    args.push_back(a);
  ASSERT_EQ(run(args), 0) << err_.str();

  auto model = sam::build_sam(sam::read_sam_config_json(config_));
  io::load_state_dict(*model, io::read_tensors(checkpoint_));
  model->eval();
  sam::SamPredictor predictor(model);
  predictor.set_image(io::read_image_rgb(image_path_));
  sam::PointBoxPrompt prompt;
  prompt.box = torch::tensor({10.f, 12.f, 100.f, 70.f}).view({1, 4});
  prompt.point_coords = torch::tensor({50.f, 40.f, 120.f, 80.f}).view({1, 2, 2});
  prompt.point_labels = torch::tensor({1, 0}, torch::kLong).view({1, 2});
  const auto expected = predictor.predict(prompt, true);

  const auto info = nlohmann::json::parse(read_file(out_dir + "/prediction.json"));
  ASSERT_EQ(info["masks"].size(), 3u);
  EXPECT_EQ(info["original_size"], (std::vector<int64_t>{90, 140}));
  for (int64_t i = 0; i < 3; ++i) {
    const auto& m = info["masks"][i];
    EXPECT_FLOAT_EQ(m["predicted_iou"].get<float>(), expected.iou_predictions[0][i].item<float>());
    const auto png = io::read_image_rgb(out_dir + "/" + m["file"].get<std::string>());
    EXPECT_TRUE(png.select(2, 0).equal(expected.masks[0][i].to(torch::kUInt8) * 255)) << i;
    EXPECT_EQ(m["area"].get<int64_t>(), expected.masks[0][i].sum().item<int64_t>());
  }
  EXPECT_EQ(info["best"].get<int64_t>(), expected.iou_predictions[0].argmax().item<int64_t>());
  EXPECT_EQ(io::read_image_rgb(out_dir + "/overlay.png").sizes(),
            (std::vector<int64_t>{90, 140, 3}));
  EXPECT_NE(out_.str().find("mask_2.png  predicted IoU"), std::string::npos) << out_.str();
}

TEST_F(PredictCommand, InfersTheModelShapeFromTheCheckpoint) {
  const auto with_json = tmp_.path() + "/a", inferred = tmp_.path() + "/b";
  auto a = base_args(with_json), b = base_args(inferred);
  for (auto* args : {&a, &b}) args->insert(args->end(), {"--box", "5,5,60,80", "--single-mask"});
  a.insert(a.end(), {"--model", config_});
  // The tiny model's decoder has 4 heads, which no tensor shape shows.
  b.insert(b.end(), {"--decoder-heads",
                     std::to_string(sam::read_sam_config_json(config_).decoder_num_heads)});
  ASSERT_EQ(run(a), 0) << err_.str();
  ASSERT_EQ(run(b), 0) << err_.str();
  const auto ja = nlohmann::json::parse(read_file(with_json + "/prediction.json"));
  const auto jb = nlohmann::json::parse(read_file(inferred + "/prediction.json"));
  ASSERT_EQ(ja["masks"].size(), 1u);
  EXPECT_EQ(ja["masks"], jb["masks"]);
}

TEST_F(PredictCommand, BadInputWritesNothing) {
  const auto out_dir = tmp_.path() + "/never";
  auto bad_box = base_args(out_dir);
  bad_box.insert(bad_box.end(), {"--box", "1,2,3"});
  EXPECT_NE(run(bad_box), 0);
  EXPECT_NE(err_.str().find("--box '1,2,3': expected 4 comma-separated numbers"), std::string::npos)
      << err_.str();

  auto wrong_model = base_args(out_dir);
  wrong_model.insert(wrong_model.end(), {"--box", "1,2,30,40", "--model", "vit_b"});
  EXPECT_NE(run(wrong_model), 0);
  EXPECT_NE(err_.str().find("shape mismatch"), std::string::npos) << err_.str();

  auto no_prompt = base_args(out_dir);
  EXPECT_NE(run(no_prompt), 0);
  EXPECT_NE(err_.str().find("--box and/or --point"), std::string::npos) << err_.str();

  auto bad_label = base_args(out_dir);
  bad_label.insert(bad_label.end(), {"--point", "3,4,2"});
  EXPECT_NE(run(bad_label), 0);
  EXPECT_NE(err_.str().find("label must be 1"), std::string::npos) << err_.str();
  EXPECT_FALSE(fs::exists(out_dir));
}

}  // namespace
}  // namespace psam
