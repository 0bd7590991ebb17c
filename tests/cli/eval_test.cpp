// psam eval end to end, in-process: a tiny model's checkpoint and config on a tiny synthetic
// store; summary.json / per_case.csv must hold the metrics library's values for the model's
// own samples, recomputed here; bad arguments give one-line errors and write nothing.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "eval/eval_fixture.h"
#include "psam/data/loader/loader.h"
#include "psam/eval/evaluator.h"
#include "psam/eval/metrics.h"
#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "cli/run_cli.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

test::CliResult run_eval(std::vector<std::string> args) {
  args.insert(args.begin(), "eval");
  return test::run_cli(args);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A run directory as psam train leaves it: config.yaml and checkpoints/last.pt.
class EvalCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new support::TempDir();
    test::make_tiny_store(dir_->file("store"));
    config::Config c;
    c.model.prob = test::tiny_prob_sam_config("embedding");
    c.run.device = RunOptions::Device::kCpu;
    c.data.store = dir_->file("store");
    c.eval.samples = 8;
    c.eval.bootstrap_resamples = 100;
    c.eval.figure_cases = 2;
    fs::create_directories(dir_->file("run/checkpoints"));
    config::write(c, dir_->file("run/config.yaml"));
    torch::manual_seed(11);
    prob::ProbSam model(c.model.prob);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->sam->mask_decoder->named_parameters())
        if (p.key().find("output_hypernetworks_mlps") != std::string::npos) p.value().mul_(8);
    }
    c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
    c10::impl::GenericDict weights(c10::StringType::get(), c10::AnyType::get());
    for (const auto& [name, t] : io::state_dict(*model)) weights.insert(name, t);
    ckpt.insert("model", weights);
    ckpt.insert("epoch", int64_t{3});
    io::write_pth(dir_->file("run/checkpoints/last.pt"), ckpt);
    config_ = new config::Config(c);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete config_;
  }

  static support::TempDir* dir_;
  static config::Config* config_;
};
support::TempDir* EvalCli::dir_ = nullptr;
config::Config* EvalCli::config_ = nullptr;

// What the table cannot show is said under it: which HM-IoU rule applied, that an interval from
// one case means nothing, that the evaluation was partial; and which checkpoint was scored.
TEST_F(EvalCli, NotesSayWhatTheTableCannotShow) {
  const std::string run_dir = dir_->file("run");
  const test::CliResult r = run_eval({"--run", run_dir, "--samples", "3", "--max-cases", "1",
                                      "--out", dir_->file("notes")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto summary = read_json(dir_->file("notes/summary.json"));
  const int64_t k = summary["annotators"].get<int64_t>();
  ASSERT_NE(3 % k, 0);
  EXPECT_TRUE(summary["metrics"]["hm_iou"]["mean"].is_number());
  for (const std::string& note :
       {fmt::format("N = 3 samples is not a multiple of K = {} annotators: HM-IoU is the "
                    "optimal-transport matching",
                    k),
        std::string("one case; its bootstrap interval"), std::string("a PARTIAL evaluation"),
        "scored " + run_dir + "/checkpoints/last.pt"})
    EXPECT_NE(r.out.find(note), std::string::npos) << note << "\n" << r.out;
}

TEST_F(EvalCli, RunWritesReportsWithTheLibrarysMetrics) {
  const std::string run_dir = dir_->file("run");
  const test::CliResult r = run_eval({"--run", run_dir, "--oracle", "--max-cases", "3"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("GED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("oracle"), std::string::npos) << r.out;
  const std::string out = run_dir + "/eval/test";
  ASSERT_TRUE(fs::exists(out + "/samples.png"));
  ASSERT_TRUE(fs::exists(out + "/oracle/summary.json"));
  const auto summary = read_json(out + "/summary.json");
  EXPECT_EQ(summary["cases"], 3);
  EXPECT_EQ(summary["model"]["checkpoint"], run_dir + "/checkpoints/last.pt");
  // A smoke test with --max-cases says so wherever its numbers appear.
  const auto split_size =
      data::DatasetStore::open(config_->data.store).split_indices("test").size();
  ASSERT_GT(split_size, 3u);
  EXPECT_EQ(summary["split_cases"], split_size);
  EXPECT_EQ(summary["split_fingerprint"],
            data::DatasetStore::open(config_->data.store).split_fingerprint("test"));
  EXPECT_EQ(summary["max_cases"], 3);
  EXPECT_TRUE(summary["partial"].get<bool>());
  EXPECT_NE(r.out.find(fmt::format("a PARTIAL evaluation: 3 of its {} cases", split_size)),
            std::string::npos)
      << r.out;

  // The same samples, made here from the checkpoint's weights, scored by the metrics library.
  const auto store = data::DatasetStore::open(config_->data.store);
  const auto indices = store.split_indices("test");
  prob::ProbSam model(config_->model.prob);
  const io::TensorDict tensors = io::read_tensors(run_dir + "/checkpoints/last.pt");
  io::load_state_dict(*model, tensors, "model.");
  model->eval();
  torch::NoGradGuard no_grad;
  data::LoaderOptions lo;
  lo.input_size = config_->model.prob.sam.img_size;
  lo.shuffle = false;
  lo.annotators = data::AnnotatorMode::kFixed;
  data::Loader loader(std::make_shared<data::DatasetStore>(store),
                      {indices.begin(), indices.begin() + 3}, lo);
  std::vector<double> ged, dsc;
  std::ifstream csv(out + "/per_case.csv");
  std::string line;
  std::getline(csv, line);
  for (int c = 0; c < 3; ++c) {
    const auto batch = loader.next();
    const auto s = model->sample(
        model->embed(batch->image), batch->image, batch->box, 8, {32, 32},
        at::make_generator<at::CPUGeneratorImpl>(eval::case_seed(config_->eval.seed, indices[c])));
    const at::Tensor logits = s.samples.squeeze(1);
    const auto m = eval::evaluate_case((logits > 0).to(torch::kUInt8), store.masks()[indices[c]],
                                       logits.sigmoid());
    ged.push_back(m.ged);
    dsc.push_back(m.dsc);
    ASSERT_TRUE(std::getline(csv, line));
    EXPECT_EQ(
        line.rfind(fmt::format("{},\"{}\",{},", indices[c], store.meta()[indices[c]].id, m.ged), 0),
        0u)
        << line;
  }
  EXPECT_NEAR(summary["metrics"]["ged"]["mean"].get<double>(), (ged[0] + ged[1] + ged[2]) / 3,
              1e-12);
  EXPECT_NEAR(summary["metrics"]["dsc"]["mean"].get<double>(), (dsc[0] + dsc[1] + dsc[2]) / 3,
              1e-12);
  EXPECT_EQ(summary["metrics"]["ged"]["count"], 3);
  // The annotators' spread next to the samples', and their ratio, under the table.
  const double samples = summary["metrics"]["diversity"]["mean"].get<double>();
  const double raters = summary["metrics"]["annotator_diversity"]["mean"].get<double>();
  ASSERT_GT(raters, 0.0) << "the synthetic readers disagree";
  const std::string note = fmt::format(
      "sample diversity {:.4f}, annotators' diversity E[d(Y,Y')] {:.4f}: ratio {:.2f}", samples,
      raters, samples / raters);
  EXPECT_NE(r.out.find(note), std::string::npos) << note << "\n" << r.out;

  // --compare reads the saved summaries back.
  const test::CliResult table = run_eval(
      {"--compare", "prob=" + out + "/summary.json", "oracle=" + out + "/oracle/summary.json"});
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find(fmt::format("{:.4f}", summary["metrics"]["ged"]["mean"].get<double>())),
            std::string::npos)
      << table.out;
}

TEST_F(EvalCli, CheckpointAndConfigWithOverrides) {
  const std::string out = dir_->file("loose");
  const test::CliResult r = run_eval({"--checkpoint", dir_->file("run/checkpoints/last.pt"), "--config",
                            dir_->file("run/config.yaml"), "--split", "val", "--samples", "4",
                            "--out", out, "eval.figure_cases=0"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto summary = read_json(out + "/summary.json");
  EXPECT_EQ(summary["split"], "val");
  EXPECT_EQ(summary["samples"], 4);
  EXPECT_TRUE(fs::exists(out + "/per_case.csv"));
  EXPECT_FALSE(fs::exists(out + "/samples.png"));
}

// Each bad invocation: non-zero status, one line on stderr, and no output directory.
TEST_F(EvalCli, BadArgumentsAreOneLineErrorsAndWriteNothing) {
  const std::string out = dir_->file("bad");
  const std::string ckpt = dir_->file("run/checkpoints/last.pt");
  const std::string cfg = dir_->file("run/config.yaml");
  const std::vector<std::vector<std::string>> cases = {
      {"--out", out},                                  // neither --run nor --checkpoint
      {"--run", dir_->file("nowhere"), "--out", out},  // no such run
      {"--checkpoint", ckpt, "--out", out},            // --checkpoint without --config
      {"--run", dir_->file("run"), "--split", "tset", "--out", out},  // unknown split
      {"--run", dir_->file("run"), "eval.samplez=3", "--out", out},   // unknown key
      {"--run", dir_->file("run"), "--samples", "0", "--out", out},
      {"--checkpoint", cfg, "--config", cfg, "--out", out},  // not a checkpoint
      {"--compare", "x.json"},                               // no LABEL=
  };
  for (const auto& args : cases) {
    const test::CliResult r = run_eval(args);
    EXPECT_NE(r.rc, 0) << args[0] << " " << args[1];
    EXPECT_FALSE(r.err.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out)) << r.err;
  }
}

}  // namespace
}  // namespace psam::cli
