// psam predict --samples on the golden tiny Probabilistic SAM (a checkpoint without a stored model
// config, so its shape is read off the tensors): every file is written and agrees with the
// summary and with the math of the maps (entropy of the mean, the variance bound), the seed
// reproduces the samples, and bad input writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "cli.h"
#include "psam/io/image.h"
#include "psam/io/npy.h"
#include "psam/io/pth.h"
#include "psam/util/fs.h"
#include "support/golden.h"
#include "support/golden_prob.h"
#include "support/testing.h"

namespace psam {
namespace {

namespace fs = std::filesystem;

class PredictSamples : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const auto set = support::find_golden_set(&why);
    if (!set) GTEST_SKIP() << why;
    golden_sam_ = set->file("sam", ".pth");
    // A training checkpoint: {"model": Probabilistic SAM state dict, "epoch": 1}.
    c10::impl::GenericDict model(c10::StringType::get(), c10::AnyType::get());
    for (const auto& [name, t] : support::golden_prob_sam_state(*set)) model.insert(name, t);
    c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
    ckpt.insert("model", model);
    ckpt.insert("epoch", int64_t{1});
    checkpoint_ = tmp_.file("prob.pt");
    io::write_pth(checkpoint_, ckpt);
    const auto y = torch::arange(90, torch::kFloat).view({-1, 1, 1});
    const auto x = torch::arange(140, torch::kFloat).view({1, -1, 1});
    const auto c = torch::tensor({1.f, 2.f, 3.f}).view({1, 1, 3});
    image_ = tmp_.file("input.png");
    io::write_image(image_, ((x * c + y * 2) % 256).to(torch::kUInt8));
  }

  int predict(const std::string& checkpoint, const std::string& out, int64_t seed) {
    out_.str("");
    err_.str("");
    return cli::run(
        {"predict", "--checkpoint", checkpoint, "--image", image_, "--box", "10,12,100,70",
         "--samples", "4", "--seed", std::to_string(seed), "--decoder-heads", "4", "--out", out},
        {out_, err_});
  }

  static int64_t lines(const std::string& text) {
    return std::count(text.begin(), text.end(), '\n');
  }

  support::TempDir tmp_;
  std::string golden_sam_, checkpoint_, image_;
  std::ostringstream out_, err_;
};

TEST_F(PredictSamples, WritesEveryFileConsistentWithTheSummary) {
  const auto dir = tmp_.file("out");
  ASSERT_EQ(predict(checkpoint_, dir, 3), 0) << err_.str();
  const auto info = nlohmann::json::parse(read_file(dir + "/summary.json"));
  EXPECT_EQ(info["model"]["latent_net"], "reference");
  EXPECT_EQ(info["model"]["latent_dim"], 6);
  ASSERT_EQ(info["masks"].size(), 4u);

  std::vector<at::Tensor> masks;
  for (const auto& m : info["masks"]) {
    const auto png = io::read_image_rgb(dir + "/" + m["file"].get<std::string>());
    ASSERT_EQ(png.sizes(), (std::vector<int64_t>{90, 140, 3}));
    masks.push_back(png.select(2, 0) > 0);
    EXPECT_EQ(m["area"].get<int64_t>(), masks.back().sum().item<int64_t>());
  }
  // Pairwise IoU spread, recomputed from the PNGs.
  std::vector<double> ious;
  for (size_t i = 0; i < masks.size(); ++i) {
    for (size_t j = i + 1; j < masks.size(); ++j) {
      const double inter = (masks[i] & masks[j]).sum().item<double>();
      const double uni = (masks[i] | masks[j]).sum().item<double>();
      ious.push_back(uni > 0 ? inter / uni : 1.0);
    }
  }
  ASSERT_EQ(ious.size(), 6u);
  EXPECT_NEAR(info["pairwise_iou"]["min"].get<double>(),
              *std::min_element(ious.begin(), ious.end()), 1e-12);
  EXPECT_NEAR(info["pairwise_iou"]["max"].get<double>(),
              *std::max_element(ious.begin(), ious.end()), 1e-12);
  EXPECT_NEAR(info["pairwise_iou"]["mean"].get<double>(),
              std::accumulate(ious.begin(), ious.end(), 0.0) / 6, 1e-12);

  const auto mean = io::read_npy(dir + "/mean_probability.npy").to(torch::kDouble);
  const auto entropy = io::read_npy(dir + "/entropy.npy").to(torch::kDouble);
  const auto variance = io::read_npy(dir + "/variance.npy").to(torch::kDouble);
  ASSERT_EQ(mean.sizes(), (std::vector<int64_t>{90, 140}));
  EXPECT_GE(mean.min().item<double>(), 0.0);
  EXPECT_LE(mean.max().item<double>(), 1.0);
  // Binary entropy of the mean, in bits.
  const auto p = mean.clamp(1e-12, 1 - 1e-12);
  const auto expected_entropy = -(p * p.log2() + (1 - p) * (1 - p).log2());
  EXPECT_LT((entropy - expected_entropy).abs().max().item<double>(), 1e-4);
  // Values in [0,1] with mean m vary by at most m (1 - m).
  EXPECT_GE(variance.min().item<double>(), 0.0);
  EXPECT_LE((variance - mean * (1 - mean)).max().item<double>(), 1e-6);
  for (const char* map : {"mean_probability.png", "entropy.png", "variance.png", "prior_mean.png"})
    EXPECT_TRUE(fs::exists(dir + "/" + map)) << map;
  EXPECT_EQ(io::read_image_rgb(dir + "/entropy.png").sizes(), (std::vector<int64_t>{90, 140, 3}));
}

TEST_F(PredictSamples, TheSeedReproducesTheSamplesAndAnotherSeedChangesThem) {
  const auto a = tmp_.file("a"), b = tmp_.file("b"), c = tmp_.file("c");
  ASSERT_EQ(predict(checkpoint_, a, 3), 0) << err_.str();
  ASSERT_EQ(predict(checkpoint_, b, 3), 0) << err_.str();
  ASSERT_EQ(predict(checkpoint_, c, 4), 0) << err_.str();
  const auto mean = [](const std::string& dir) {
    return io::read_npy(dir + "/mean_probability.npy");
  };
  EXPECT_TRUE(mean(a).equal(mean(b)));
  EXPECT_FALSE(mean(a).equal(mean(c)));
}

// psam export --part full adds fcomb.decoder.*, a copy of the mask decoder; predict reads it.
// A folder batch loads the model once and gives each row what the single-image predict gives.
TEST_F(PredictSamples, AFolderBatchEqualsOneImageAtATime) {
  ASSERT_EQ(predict(checkpoint_, tmp_.file("single"), 3), 0) << err_.str();
  const std::string boxes = tmp_.write("boxes.csv", "image,x0,y0,x1,y1,name\ninput.png,10,12,100,70,a\n");
  const auto dir = fs::path(image_).parent_path().string();
  out_.str("");
  ASSERT_EQ(cli::run({"predict", "--checkpoint", checkpoint_, "--images", dir, "--boxes", boxes,
                      "--samples", "4", "--seed", "3", "--decoder-heads", "4", "--out",
                      tmp_.file("batch")},
                     {out_, err_}),
            0)
      << err_.str();
  for (const char* file : {"sample_0.png", "sample_3.png", "prior_mean.png", "variance.npy"})
    EXPECT_EQ(read_file(tmp_.file("batch/a/") + file), read_file(tmp_.file("single/") + file))
        << file;
}

TEST_F(PredictSamples, ReadsAFullExport) {
  const auto full = tmp_.file("full.pth");
  std::ostringstream out, err;
  ASSERT_EQ(cli::run({"export", checkpoint_, "--out", full, "--part", "full", "--decoder-heads", "4"},
                     {out, err}),
            0)
      << err.str();
  ASSERT_EQ(predict(checkpoint_, tmp_.file("a"), 5), 0) << err_.str();
  ASSERT_EQ(predict(full, tmp_.file("b"), 5), 0) << err_.str();
  EXPECT_TRUE(io::read_npy(tmp_.file("a") + "/variance.npy")
                  .equal(io::read_npy(tmp_.file("b") + "/variance.npy")));
}

// Official SAM weights store no model config: they load as the deterministic SAM of the shape
// their tensors show, so every sample is the same mask.
TEST_F(PredictSamples, OfficialSamWeightsSampleTheDeterministicSam) {
  const auto dir = tmp_.file("sam");
  ASSERT_EQ(predict(golden_sam_, dir, 0), 0) << err_.str();
  const auto info = nlohmann::json::parse(read_file(dir + "/summary.json"));
  EXPECT_EQ(info["model"]["latent_net"], "none");
  EXPECT_FALSE(info["model_config_stored"].get<bool>());
  EXPECT_EQ(info["pairwise_iou"]["min"].get<double>(), 1.0);
  // Identical samples: zero variance up to the rounding of the variance kernel (libtorch 2.x
  // sums in vectorised partial sums, so n equal values can leave 1e-16 instead of 0).
  EXPECT_LE(io::read_npy(dir + "/variance.npy").max().item<float>(), 1e-12f);
}

// A psam model shows what psam trained and evaluated: without --samples, 16 masks drawn by the
// method and its prior-mean decoding (not SAM's untrained multimask outputs, not SAM without z);
// --multimask asks for SAM's three outputs and says what they are.
TEST_F(PredictSamples, APsamModelShowsItsOwnOutputByDefault) {
  const auto plain = tmp_.file("plain"), sixteen = tmp_.file("sixteen"), multi = tmp_.file("multi");
  const std::vector<std::string> base = {"predict", "--checkpoint", checkpoint_, "--image", image_,
                                         "--box", "10,12,100,70", "--decoder-heads", "4"};
  auto args = base;
  args.insert(args.end(), {"--out", plain});
  ASSERT_EQ(cli::run(args, {out_, err_}), 0) << err_.str();
  ASSERT_EQ(predict(checkpoint_, sixteen, 0), 0) << err_.str();  // --samples 4: compared below
  const auto info = nlohmann::json::parse(read_file(plain + "/summary.json"));
  EXPECT_EQ(info["samples"], 16);
  EXPECT_NE(info["output"].get<std::string>().find("drawn by the method"), std::string::npos);
  EXPECT_TRUE(fs::exists(plain + "/prior_mean.png"));
  EXPECT_FALSE(fs::exists(plain + "/prediction.json"));
  // The first 4 of the 16 draws with seed 0 are the 4 draws of --samples 4 --seed 0 only where
  // the method draws them as a prefix; the prior mean does not depend on n at all.
  EXPECT_TRUE(io::read_image_rgb(plain + "/prior_mean.png")
                  .equal(io::read_image_rgb(sixteen + "/prior_mean.png")));

  args = base;
  args.insert(args.end(), {"--out", multi, "--multimask"});
  ::testing::internal::CaptureStderr();  // the warning goes to the log
  const int rc = cli::run(args, {out_, err_});
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(rc, 0) << err_.str();
  const auto m = nlohmann::json::parse(read_file(multi + "/prediction.json"));
  EXPECT_EQ(m["masks"].size(), 3u);
  EXPECT_TRUE(m["multimask_output"].get<bool>());
  EXPECT_NE(log.find("not trained by psam, and the latent z is not used"), std::string::npos)
      << log;

  args = base;
  args.insert(args.end(), {"--out", tmp_.file("never"), "--multimask", "--samples", "3"});
  EXPECT_NE(cli::run(args, {out_, err_}), 0);
}

TEST_F(PredictSamples, BadCheckpointsGiveOneLineAndWriteNothing) {
  const auto dir = tmp_.file("never");
  const auto bytes = read_file(checkpoint_);
  const auto corrupt = tmp_.write("corrupt.pt", bytes.substr(0, bytes.size() - 100));
  EXPECT_NE(predict(corrupt, dir, 0), 0);
  EXPECT_EQ(lines(err_.str()), 1) << err_.str();
  const auto text = tmp_.write("text.pt", "not a checkpoint");
  EXPECT_NE(predict(text, dir, 0), 0);
  EXPECT_EQ(lines(err_.str()), 1) << err_.str();
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
}  // namespace psam
