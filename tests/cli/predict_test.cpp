// psam predict end to end, in-process, on the golden tiny checkpoint: the files it writes must
// hold exactly what the library predictor computes for the same image and prompts.
#include <gtest/gtest.h>

#include <filesystem>
#if PSAM_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif
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

// Official SAM weights show SAM's three multimask outputs by default, and say so.
TEST_F(PredictCommand, OfficialWeightsSayWhichOutputTheyShow) {
  const auto multi = tmp_.path() + "/multi", single = tmp_.path() + "/single";
  auto a = base_args(multi), b = base_args(single);
  for (auto* args : {&a, &b}) args->insert(args->end(), {"--box", "5,5,60,80", "--model", config_});
  b.push_back("--single-mask");
  ASSERT_EQ(run(a), 0) << err_.str();
  EXPECT_NE(out_.str().find("output: SAM's three multimask outputs"), std::string::npos)
      << out_.str();
  ASSERT_EQ(run(b), 0) << err_.str();
  const auto ja = nlohmann::json::parse(read_file(multi + "/prediction.json"));
  const auto jb = nlohmann::json::parse(read_file(single + "/prediction.json"));
  EXPECT_EQ(ja["masks"].size(), 3u);
  EXPECT_NE(ja["output"].get<std::string>().find("tokens 1-3"), std::string::npos);
  EXPECT_EQ(jb["masks"].size(), 1u);
  EXPECT_NE(jb["output"].get<std::string>().find("token 0"), std::string::npos);
}

// The image is 140 x 90 (width x height). A prompt wholly outside it is an error naming the size;
// a box reaching outside is clipped to the image with a warning and predicts as the clipped box.
TEST_F(PredictCommand, PromptsOutsideTheImage) {
  const auto never = tmp_.path() + "/never";
  for (const std::vector<std::string>& prompt :
       {std::vector<std::string>{"--box", "150,10,200,60"},
        std::vector<std::string>{"--box", "10,100,60,120"},
        std::vector<std::string>{"--box=-30,-30,-5,-5"},
        std::vector<std::string>{"--box", "10,10,60,60", "--point", "300,300,1"},
        std::vector<std::string>{"--point=-1,5,1"}}) {
    auto args = base_args(never);
    args.insert(args.end(), prompt.begin(), prompt.end());
    args.insert(args.end(), {"--model", config_});
    EXPECT_NE(run(args), 0) << prompt[1];
    EXPECT_NE(err_.str().find("outside the 140 x 90 (width x height) image"), std::string::npos)
        << err_.str();
  }
  EXPECT_FALSE(fs::exists(never));

  const auto clipped = tmp_.path() + "/clipped", inside = tmp_.path() + "/inside";
  auto a = base_args(clipped), b = base_args(inside);
  a.insert(a.end(), {"--box=-20,10,60,200", "--model", config_});
  b.insert(b.end(), {"--box", "0,10,60,90", "--model", config_});
  ::testing::internal::CaptureStderr();  // the warning goes to the log
  const int rc = run(a);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(rc, 0) << err_.str();
  EXPECT_NE(log.find("clipped to 0,10,60,90"), std::string::npos) << log;
  ASSERT_EQ(run(b), 0) << err_.str();
  const auto ja = nlohmann::json::parse(read_file(clipped + "/prediction.json"));
  const auto jb = nlohmann::json::parse(read_file(inside + "/prediction.json"));
  EXPECT_EQ(ja["prompt"]["box_clipped"], (std::vector<double>{0, 10, 60, 90}));
  EXPECT_EQ(ja["masks"], jb["masks"]);
}

// A folder holding an earlier prediction needs --force; psam then replaces its own files only.
TEST_F(PredictCommand, AnEarlierPredictionNeedsForce) {
  const auto out_dir = tmp_.path() + "/out";
  auto args = base_args(out_dir);
  args.insert(args.end(), {"--box", "5,5,60,80", "--model", config_});
  ASSERT_EQ(run(args), 0) << err_.str();
  tmp_.write("out/sample_7.png", "stale");
  tmp_.write("out/notes.txt", "the user's");
  EXPECT_NE(run(args), 0);
  EXPECT_NE(err_.str().find("--force"), std::string::npos) << err_.str();
  EXPECT_EQ(read_file(out_dir + "/sample_7.png"), "stale");
  args.push_back("--force");
  ASSERT_EQ(run(args), 0) << err_.str();
  EXPECT_FALSE(fs::exists(out_dir + "/sample_7.png"));
  EXPECT_EQ(read_file(out_dir + "/notes.txt"), "the user's");
  EXPECT_TRUE(fs::exists(out_dir + "/mask_2.png"));
}

#if PSAM_HAVE_OPENCV
// A 16-bit PNG (what import-folder imports and trains on) is read, not refused: SAM's predictor
// sees it rendered to 0..255, exactly as the same picture saved with 8 bits.
TEST_F(PredictCommand, Reads16BitImages) {
  const auto y = torch::arange(90, torch::kInt).view({-1, 1});
  const auto x = torch::arange(140, torch::kInt).view({1, -1});
  const at::Tensor v = (x * 401 + y * 97) % 65536;
  cv::Mat m(90, 140, CV_16U);
  for (int r = 0; r < 90; ++r)
    for (int c = 0; c < 140; ++c) m.at<uint16_t>(r, c) = static_cast<uint16_t>(v[r][c].item<int>());
  const std::string deep = tmp_.path() + "/deep.png", flat = tmp_.path() + "/flat.png";
  ASSERT_TRUE(cv::imwrite(deep, m));
  io::write_image(flat, (v.to(torch::kFloat) / 65535 * 255).round().to(torch::kUInt8));
  std::vector<std::string> a = {"predict", "--checkpoint", checkpoint_, "--image", deep, "--out",
                                tmp_.path() + "/a", "--box", "5,5,60,80", "--model", config_};
  std::vector<std::string> b = a;
  b[4] = flat;
  b[6] = tmp_.path() + "/b";
  ASSERT_EQ(run(a), 0) << err_.str();
  ASSERT_EQ(run(b), 0) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp_.path() + "/a/prediction.json"))["masks"],
            nlohmann::json::parse(read_file(tmp_.path() + "/b/prediction.json"))["masks"]);
}
#endif

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

  auto window = base_args(out_dir);
  window.insert(window.end(), {"--box", "1,2,30,40", "--window", "-600,1500"});
  EXPECT_NE(run(window), 0);
  EXPECT_NE(err_.str().find("not a DICOM slice"), std::string::npos) << err_.str();

  auto bad_label = base_args(out_dir);
  bad_label.insert(bad_label.end(), {"--point", "3,4,2"});
  EXPECT_NE(run(bad_label), 0);
  EXPECT_NE(err_.str().find("label must be 1"), std::string::npos) << err_.str();
  EXPECT_FALSE(fs::exists(out_dir));
}

}  // namespace
}  // namespace psam
