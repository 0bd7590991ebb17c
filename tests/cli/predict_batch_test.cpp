// psam predict on many images: a folder with a CSV of boxes gives, per row, what the single-image
// predict gives for that image and box (tall, wide and square images); a store split gives one
// folder per case with the box of the annotators' union; bad rows stop the batch before anything
// is written; --force replaces an earlier batch, folders included.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "psam/data/store/store.h"
#include "psam/io/image.h"
#include "psam/models/box_ellipse/box_ellipse_model.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

nlohmann::json json_file(const std::string& path) {
  return nlohmann::json::parse(read_file(path));
}

at::Tensor mask_png(const std::string& path) {
  return io::read_image_rgb(path).select(2, 0) > 127;
}

class PredictBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("images"));
    torch::manual_seed(3);
    // Tall, wide and square, each with its own box.
    for (const auto& [name, h, w] : {std::tuple{"tall", 70, 30}, std::tuple{"wide", 30, 70},
                                     std::tuple{"square", 48, 48}})
      io::write_image(dir_.file(std::string("images/") + name + ".png"),
                      torch::randint(0, 256, {h, w, 3}).to(torch::kByte));
  }
  std::string csv(const std::string& name, const std::string& text) {
    return dir_.write(name, text);
  }
  support::TempDir dir_;
};

TEST_F(PredictBatch, EachRowIsTheSingleImagePrediction) {
  const std::string boxes = csv("boxes.csv",
                                "# one nodule each\n"
                                "image,x0,y0,x1,y1\n"
                                "tall.png,4,10,25,60\n"
                                "wide.png, 10, 4, 60, 25\n"
                                "square.png,-5,20,30,60\n");  // clipped to the image
  const auto r = test::run_cli({"predict", "--kind", "box_ellipse", "--images",
                                dir_.file("images"), "--boxes", boxes, "--out", dir_.file("out")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json index = json_file(dir_.file("out/batch.json"));
  ASSERT_EQ(index["cases"].size(), 3u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"tall", "4,10,25,60"}, {"wide", "10,4,60,25"}, {"square", "-5,20,30,60"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [name, box] = expected[i];
    EXPECT_EQ(index["cases"][i]["folder"], name);
    const auto one = test::run_cli({"predict", "--kind", "box_ellipse", "--image",
                                    dir_.file("images/" + name + ".png"), "--box", box, "--out",
                                    dir_.file("one_" + name)});
    ASSERT_EQ(one.rc, 0) << one.err;
    for (const char* file : {"sample_0.png", "prior_mean.png", "mean_probability.npy"})
      EXPECT_EQ(read_file(dir_.file("out/" + name + "/" + file)),
                read_file(dir_.file("one_" + name + "/" + file)))
          << name << " " << file;
    const nlohmann::json batch_summary = json_file(dir_.file("out/" + name + "/summary.json"));
    const nlohmann::json single_summary = json_file(dir_.file("one_" + name + "/summary.json"));
    EXPECT_EQ(batch_summary["original_size"], single_summary["original_size"]);
    EXPECT_EQ(batch_summary["prompt"], single_summary["prompt"]);
  }
  // The ellipse keeps each image's orientation.
  EXPECT_TRUE(torch::equal(mask_png(dir_.file("out/tall/sample_0.png")),
                           models::box_ellipse_mask({4, 10, 25, 60}, {70, 30})));
  EXPECT_TRUE(torch::equal(mask_png(dir_.file("out/wide/sample_0.png")),
                           models::box_ellipse_mask({10, 4, 60, 25}, {30, 70})));
}

TEST_F(PredictBatch, BadRowsStopItBeforeAnythingIsWritten) {
  const std::string images = dir_.file("images");
  const auto run = [&](const std::string& boxes) {
    return test::run_cli({"predict", "--kind", "box_ellipse", "--images", images, "--boxes",
                          boxes, "--out", dir_.file("out")});
  };
  struct Case {
    std::string text, error;
  };
  const std::vector<Case> cases = {
      // The last row's box lies outside its 30 x 70 image: the first row is not written either.
      {"image,x0,y0,x1,y1,name\ntall.png,4,10,25,60,a\nwide.png,100,40,120,50,b\n",
       ":3: --box 100,40,120,50: lies outside the 70 x 30 (width x height) image"},
      {"image,x0,y0,x1,y1\ntall.png,4,10,25,60\ntall.png,1,1,9,9\n",
       ":3: subfolder 'tall' is already"},
      {"image,x0,y0,x1,y1\nmissing.png,1,1,9,9\n", ":2: image"},
      {"file,x0,y0,x1,y1\ntall.png,1,1,9,9\n", ":1: the header needs the columns"},
      {"image,x0,y0,x1,y1\ntall.png,1,1,9\n", ":2: expected 5 comma-separated fields"},
      {"image,x0,y0,x1,y1\ntall.png,1,1,9,x\n", "--box '1,1,9,x': expected 4"},
      {"image,x0,y0,x1,y1\n", "no rows"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto r = run(csv("bad" + std::to_string(i) + ".csv", cases[i].text));
    EXPECT_EQ(r.rc, 1) << cases[i].text;
    EXPECT_NE(r.err.find(cases[i].error), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir_.file("out"))) << cases[i].text;
  }
  // Options that belong to one image.
  const std::string boxes = csv("ok.csv", "image,x0,y0,x1,y1\ntall.png,4,10,25,60\n");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--box", "1,1,5,5"}, {"--multimask"}, {"--split", "test"},
        {"--image", images + "/tall.png"}}) {
    std::vector<std::string> args = {"predict", "--kind", "box_ellipse", "--images", images,
                                     "--boxes", boxes, "--out", dir_.file("out")};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_cli(args);
    EXPECT_EQ(r.rc, 1) << extra[0];
    EXPECT_FALSE(fs::exists(dir_.file("out"))) << extra[0];
  }
}

TEST_F(PredictBatch, ForceReplacesAnEarlierBatch) {
  const std::string images = dir_.file("images");
  const auto run = [&](const std::string& boxes, bool force) {
    std::vector<std::string> args = {"predict", "--kind", "box_ellipse", "--images", images,
                                     "--boxes", boxes, "--out", dir_.file("out")};
    if (force) args.push_back("--force");
    return test::run_cli(args);
  };
  ASSERT_EQ(run(csv("two.csv", "image,x0,y0,x1,y1\ntall.png,4,10,25,60\nwide.png,1,1,9,9\n"),
                false)
                .rc,
            0);
  std::ofstream(dir_.file("out/notes.txt")) << "mine\n";
  const std::string one = csv("one.csv", "image,x0,y0,x1,y1,name\nsquare.png,1,1,9,9,sq\n");
  EXPECT_EQ(run(one, false).rc, 1);  // not empty
  const auto r = run(one, true);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_.file("out/tall")));
  EXPECT_FALSE(fs::exists(dir_.file("out/wide")));
  EXPECT_TRUE(fs::exists(dir_.file("out/sq/sample_0.png")));
  EXPECT_TRUE(fs::exists(dir_.file("out/notes.txt")));  // not psam's
  EXPECT_EQ(json_file(dir_.file("out/batch.json"))["cases"].size(), 1u);
}

// Every case of the split, each prompted with the box of its annotators' union, as evaluation
// prompts it; tall and wide stores.
TEST(PredictBatchStore, OneFolderPerCaseWithTheUnionBox) {
  for (const auto& [h, w] : {std::pair{40, 24}, std::pair{24, 40}}) {
    support::TempDir dir;
    const std::string store = dir.file("store");
    ASSERT_EQ(test::run_cli({"data", "synth", store, "--n", "12", "--height", std::to_string(h),
                             "--width", std::to_string(w), "--per-patient", "1", "--oracle", "0"})
                  .rc,
              0);
    const auto r = test::run_cli({"predict", "--kind", "box_ellipse", "--store", store, "--split",
                                  "val", "--out", dir.file("out")});
    ASSERT_EQ(r.rc, 0) << r.err;
    const data::DatasetStore s = data::DatasetStore::open(store);
    const std::vector<int64_t> val = s.split_indices("val");
    const nlohmann::json index = json_file(dir.file("out/batch.json"));
    EXPECT_EQ(index["split"], "val");
    EXPECT_EQ(index["split_fingerprint"], s.split_fingerprint("val"));
    ASSERT_EQ(index["cases"].size(), val.size());
    for (size_t k = 0; k < val.size(); ++k) {
      const std::string id = s.meta()[val[k]].id;
      EXPECT_EQ(index["cases"][k]["case"], id);
      // The tight box (max inclusive) of every annotator's pixels.
      const at::Tensor any = s.masks()[val[k]].amax(0) > 0;
      const at::Tensor rows = any.any(1).nonzero().flatten(), cols = any.any(0).nonzero().flatten();
      const data::Box box{cols.min().item<float>(), rows.min().item<float>(),
                          cols.max().item<float>(), rows.max().item<float>()};
      EXPECT_EQ(index["cases"][k]["box"],
                nlohmann::json({box.x0, box.y0, box.x1, box.y1}));
      const std::string folder = dir.file("out/" + index["cases"][k]["folder"].get<std::string>());
      EXPECT_TRUE(torch::equal(mask_png(folder + "/sample_0.png"),
                               models::box_ellipse_mask(box, {h, w})))
          << id;
      EXPECT_EQ(json_file(folder + "/summary.json")["original_size"], nlohmann::json({h, w}));
    }
  }
}

}  // namespace
}  // namespace psam::cli
