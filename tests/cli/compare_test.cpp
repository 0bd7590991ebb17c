// psam compare on a tiny benchmark (box_ellipse and a micro Probabilistic SAM at two seeds): the
// report's numbers are the runs' own summary.json values; a second call trains and evaluates
// nothing and writes the same report; a compare killed while training finishes on rerun with
// the numbers of an uninterrupted one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/child_process.h"
#include "cli/run_cli.h"
#include "cli/tiny_sam.h"
#include "psam/eval/label_text.h"
#include "psam/io/image.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

const std::string kMicroConfig = std::string(R"(
run: {threads: 1, device: cpu}
model:
  latent_net: reference
  latent_dim: 3
  sam: )") + test::kTinySam + R"(
data:
  loader: {batch_size: 4}
train: {epochs: 2, lr: 1e-3, log_every_steps: 1, val_every_epochs: 0}
)";

// The box_ellipse baseline is added by default; out_dir (relative to the working directory) is
// set by write_bench.
const char* kBench = R"(
name: tiny
data:
  store: store
  synth: [--n, "24", --size, "32", --oracle, "0"]
seeds: [0, 1]
eval: {samples: [2, 4], bootstrap_resamples: 50, figure_cases: 2}
methods:
  - {name: prob_sam, config: micro.yaml}
)";

nlohmann::json json_file(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

std::string write_bench(const support::TempDir& dir, const std::string& extra = "") {
  dir.write("micro.yaml", kMicroConfig);
  return dir.write("bench.yaml",
                   std::string(kBench) + "out_dir: " + dir.file("out") + "\n" + extra);
}

TEST(Compare, ReportHoldsTheRunsNumbersAndASecondCallDoesNothing) {
  support::TempDir dir;
  const std::string bench = write_bench(dir);
  const auto first = test::run_cli({"compare", bench});
  ASSERT_EQ(first.rc, 0) << first.err;
  EXPECT_NE(first.out.find("[1/6] generate the store"), std::string::npos) << first.out;
  const std::string report = dir.file("out/tiny");
  const nlohmann::json results = json_file(report + "/results.json");
  const std::string md = read_file(report + "/results.md");
  EXPECT_EQ(results["baseline"], "box_ellipse");

  // Every cell is the run's summary.json value, for every n.
  const auto eval_dir = [&](const std::string& method, int seed) {
    return method == "box_ellipse" ? report + "/runs/box_ellipse/eval/test"
                                   : fmt::format("{}/runs/{}/seed{}/eval/test", report, method, seed);
  };
  for (const std::string method : {"box_ellipse", "prob_sam"}) {
    for (int seed : {0, 1}) {
      const nlohmann::json summary = json_file(eval_dir(method, seed) + "/summary.json");
      EXPECT_EQ(summary["sample_counts"], nlohmann::json({2, 4}));
      const auto& got = results["splits"]["test"]["methods"][method]["seeds"][std::to_string(seed)];
      EXPECT_EQ(got["4"]["ged"], summary["metrics"]["ged"]) << method;
      EXPECT_EQ(got["4"]["dsc"], summary["metrics"]["dsc"]) << method;
      EXPECT_EQ(got["2"]["ged"], summary["by_samples"]["2"]["ged"]) << method;
      const auto& ged = summary["metrics"]["ged"];
      const std::string row =
          fmt::format("| {} | {} | 4 | {:.4f} [{:.4f}, {:.4f}] |", method, seed,
                      ged["mean"].get<double>(), ged["ci"][0].get<double>(), ged["ci"][1].get<double>());
      EXPECT_NE(md.find(row), std::string::npos) << row << "\n" << md;
    }
  }
  // The two seeds trained different models.
  EXPECT_NE(json_file(eval_dir("prob_sam", 0) + "/summary.json")["metrics"]["ged"],
            json_file(eval_dir("prob_sam", 1) + "/summary.json")["metrics"]["ged"]);
  // Paired on the same cases (GED is defined in every case): the mean difference is the
  // difference of the means.
  const auto model_ged = json_file(eval_dir("prob_sam", 1) + "/summary.json")["metrics"]["ged"];
  const auto base_ged = json_file(eval_dir("box_ellipse", 0) + "/summary.json")["metrics"]["ged"];
  const auto& diff = results["splits"]["test"]["paired"]["prob_sam"]["1"]["ged"];
  EXPECT_NEAR(diff["mean_difference"].get<double>(),
              model_ged["mean"].get<double>() - base_ged["mean"].get<double>(), 1e-12);
  EXPECT_EQ(diff["cases"], model_ged["count"]);
  EXPECT_LE(diff["ci"][0].get<double>(), diff["mean_difference"].get<double>());
  // Pooled over the seeds (the same cases in both): the mean of the seeds' mean differences.
  const auto& paired = results["splits"]["test"]["paired"]["prob_sam"];
  const auto& pooled = paired["pooled"]["ged"];
  EXPECT_EQ(pooled["seeds"], 2);
  EXPECT_NEAR(pooled["mean_difference"].get<double>(),
              (paired["0"]["ged"]["mean_difference"].get<double>() +
               paired["1"]["ged"]["mean_difference"].get<double>()) / 2,
              1e-12);
  EXPECT_NE(md.find("| prob_sam | pooled (2 seeds) |"), std::string::npos) << md;
  // Across seeds: mean ± t(1 df, 95%) * sd / sqrt(2), t = 12.7062.
  const double g0 = json_file(eval_dir("prob_sam", 0) + "/summary.json")["metrics"]["ged"]["mean"];
  const double g1 = json_file(eval_dir("prob_sam", 1) + "/summary.json")["metrics"]["ged"]["mean"];
  const auto& across = results["splits"]["test"]["methods"]["prob_sam"]["across_seeds"]["4"]["ged"];
  const double half = 12.706204736174707 * std::abs(g0 - g1) / std::sqrt(2.0) / std::sqrt(2.0);
  EXPECT_NEAR(across["t_interval"][0].get<double>(), (g0 + g1) / 2 - half, 1e-9);
  EXPECT_NEAR(across["t_interval"][1].get<double>(), (g0 + g1) / 2 + half, 1e-9);
  EXPECT_NE(md.find("differs from this one like another training seed does"), std::string::npos);
  // Pictures: a chart per metric, GED against n, and the two methods' sample pictures stacked.
  EXPECT_NE(read_file(report + "/bars_ged.svg").find("<rect"), std::string::npos);
  EXPECT_NE(read_file(report + "/ged_vs_samples.svg").find("<polyline"), std::string::npos);
  const int64_t rows = io::read_image_rgb(report + "/samples.png").size(0);
  // Each block under a strip with its method's name.
  EXPECT_EQ(rows, io::read_image_rgb(eval_dir("box_ellipse", 0) + "/samples.png").size(0) +
                      io::read_image_rgb(eval_dir("prob_sam", 0) + "/samples.png").size(0) + 8 +
                      2 * eval::kLabelStripHeight);

  const auto trained = fs::last_write_time(report + "/runs/prob_sam/seed0/checkpoints/last.pt");
  const auto evaluated = fs::last_write_time(eval_dir("prob_sam", 1) + "/summary.json");
  const auto second = test::run_cli({"compare", bench});
  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_NE(second.out.find("5 stage(s), 0 to run"), std::string::npos) << second.out;
  EXPECT_EQ(fs::last_write_time(report + "/runs/prob_sam/seed0/checkpoints/last.pt"), trained);
  EXPECT_EQ(fs::last_write_time(eval_dir("prob_sam", 1) + "/summary.json"), evaluated);
  EXPECT_EQ(read_file(report + "/results.md"), md);
  EXPECT_EQ(json_file(report + "/results.json"), results);
  // (the store exists now: no generation stage)

  // A changed protocol evaluates again, and trains nothing.
  write_bench(dir, "splits: [val]\n");
  const auto other = test::run_cli({"compare", bench, "--dry-run"});
  ASSERT_EQ(other.rc, 0) << other.err;
  EXPECT_NE(other.out.find("5 stage(s), 3 to run"), std::string::npos) << other.out;

  // An edited method config resumes the runs with what changed (here one more epoch), and
  // the runs' config.yaml says so; a changed model is refused, naming the key.
  write_bench(dir);
  std::string longer = kMicroConfig;
  longer.replace(longer.find("epochs: 2"), 9, "epochs: 3");
  dir.write("micro.yaml", longer);
  const auto edited = test::run_cli({"compare", bench});
  ASSERT_EQ(edited.rc, 0) << edited.err;
  for (int seed : {0, 1}) {
    const std::string run = fmt::format("{}/runs/prob_sam/seed{}", report, seed);
    EXPECT_NE(read_file(run + "/config.yaml").find("epochs: 3"), std::string::npos);
    EXPECT_GT(fs::last_write_time(run + "/checkpoints/last.pt"), trained);
  }
  EXPECT_NE(test::run_cli({"compare", bench, "--dry-run"}).out.find("0 to run"), std::string::npos);
  std::string wider = longer;
  wider.replace(wider.find("latent_dim: 3"), 13, "latent_dim: 4");
  dir.write("micro.yaml", wider);
  const auto refused = test::run_cli({"compare", bench});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("model.latent_dim: 3 -> 4"), std::string::npos) << refused.err;
}

// A benchmark file can be pointed anywhere: key=value overrides; a copied file whose method
// config is written from the repository root still finds it; --dry-run says where things go.
TEST(Compare, OverridesAndACopiedBenchmarkFile) {
  support::TempDir dir;
  const std::string bench = dir.write("copied/bench.yaml", R"(
name: copied
data: {store: store, synth: [--n, "24", --size, "32"]}
methods:
  - {name: prob_sam, config: configs/probsam_synthetic_tiny.yaml}
)");
  const auto r = test::run_cli({"compare", bench, "--dry-run", "data.store=" + dir.file("s2"),
                                "out_dir=" + dir.file("elsewhere"), "seeds=[3, 4, 5]"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("x 3 seed(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("store: " + dir.file("s2") + " (made first by psam data synth)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("report: " + dir.file("elsewhere") + "/copied"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("elsewhere")));

  const std::string lost = dir.write("lost.yaml", R"(
data: {store: store}
methods:
  - {name: prob_sam, config: ../nowhere.yaml}
)");
  const auto bad = test::run_cli({"compare", lost, "--dry-run"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("a relative path is taken from the benchmark file's folder, then"),
            std::string::npos)
      << bad.err;
}

TEST(Compare, KilledWhileTrainingFinishesOnRerun) {
  // Long enough (batch 1, 40 epochs: a few seconds) to be stopped while the first model trains.
  const std::string longer = "overrides: [data.loader.batch_size=1, train.epochs=40]\n";
  support::TempDir whole, killed;
  ASSERT_EQ(test::run_cli({"compare", write_bench(whole, longer)}).rc, 0);

  const std::string bench = write_bench(killed, longer);
  const pid_t pid = test::spawn({"compare", bench}, killed.file("log.txt"));
  const std::string metrics = killed.file("out/tiny/runs/prob_sam/seed0/metrics.jsonl");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!(fs::exists(metrics) && fs::file_size(metrics) > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string log = read_file(killed.file("log.txt"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 75) << status << "\n" << log;
  EXPECT_NE(log.find("run psam compare " + bench + " again to finish"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(killed.file("out/tiny/results.md")));

  const auto rerun = test::run_cli({"compare", bench});
  ASSERT_EQ(rerun.rc, 0) << rerun.err;
  EXPECT_NE(rerun.out.find("[1/5] evaluate box_ellipse on test: done, skipped"), std::string::npos) << rerun.out;
  // The resumed training ends where the uninterrupted one did.
  const auto a = json_file(whole.file("out/tiny/results.json"));
  const auto b = json_file(killed.file("out/tiny/results.json"));
  EXPECT_EQ(a["splits"], b["splits"]);
}

}  // namespace
}  // namespace psam::cli
