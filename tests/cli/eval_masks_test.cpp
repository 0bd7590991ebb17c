// psam eval-masks end to end, in-process: .npy inputs made from the golden cases, JSON output
// compared with the reference values of PHiSeg's and MoSE's code; bad inputs give one-line errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "eval/golden_metrics.h"
#include "psam/io/npy.h"
#include "cli/run_cli.h"
#include "support/testing.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;
using test::GoldenMetrics;
using test::near_golden;

using Result = test::CliResult;
using test::run_cli;

class EvalMasks : public ::testing::Test {
 protected:
  static const GoldenMetrics& golden() {
    static const GoldenMetrics g;
    return g;
  }
  std::string npy(const std::string& name, const at::Tensor& t) {
    const std::string path = (dir_ / (name + ".npy")).string();
    io::write_npy(path, t.contiguous());
    return path;
  }

  // Runs with --json and parses stdout, which must hold exactly one JSON object.
  nlohmann::json run_json(std::vector<std::string> args) {
    args.insert(args.begin(), "eval-masks");
    args.push_back("--json");
    const Result r = run_cli(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    nlohmann::json j;
    EXPECT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
    EXPECT_TRUE(j.is_object());
    return j;
  }

  // Every reference value of golden case c against one "cases" entry of the JSON.
  void expect_case_matches(const nlohmann::json& got, int64_t c, bool with_probs) {
    SCOPED_TRACE("case" + std::to_string(c));
    EXPECT_TRUE(near_golden(got["ged"].get<double>(), golden().scalar(c, "ged_phiseg")));
    EXPECT_TRUE(near_golden(got["hm_iou"].get<double>(), golden().scalar(c, "hm_iou_mose")));
    EXPECT_TRUE(near_golden(got["diversity"].get<double>(),
                            golden().get(c, "dist_ss_phiseg").mean().item<double>()));
    if (with_probs) {
      EXPECT_TRUE(near_golden(got["ncc"].get<double>(), golden().scalar(c, "ncc_phiseg")));
      EXPECT_TRUE(near_golden(
          torch::tensor(got["ncc_per_annotator"].get<std::vector<double>>(), torch::kDouble),
          golden().get(c, "ncc_phiseg_per_annotator")));
    } else {
      EXPECT_TRUE(got["ncc"].is_null());
    }
    for (const char* key : {"dsc", "iou", "dsc_annotator_mean", "iou_annotator_mean"}) {
      EXPECT_GE(got[key].get<double>(), 0.0) << key;
      EXPECT_LE(got[key].get<double>(), 1.0) << key;
    }
  }

  support::TempDir tmp_;
  fs::path dir_ = tmp_.path();
};

TEST_F(EvalMasks, EveryGoldenCaseAsOneCaseFiles) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    const std::string s = npy("s" + std::to_string(c), golden().get(c, "samples"));
    const std::string a = npy("a" + std::to_string(c), golden().get(c, "annotators"));
    const std::string p = npy("p" + std::to_string(c), golden().get(c, "probs"));
    const nlohmann::json j = run_json({"--samples", s, "--annotators", a, "--probs", p});
    ASSERT_EQ(j["cases"].size(), 1u);
    expect_case_matches(j["cases"][0], c, true);
    EXPECT_EQ(j["conventions"]["ged"], "phiseg");
    EXPECT_EQ(j["conventions"]["hm_iou"], "mose");
    EXPECT_EQ(j["mean"]["ged"], j["cases"][0]["ged"]);

    const nlohmann::json mose =
        run_json({"--samples", s, "--annotators", a, "--ged-convention", "mose"});
    EXPECT_TRUE(near_golden(mose["cases"][0]["ged"].get<double>(), golden().scalar(c, "ged_mose")))
        << "case" << c;
    EXPECT_TRUE(mose["cases"][0]["ncc"].is_null());
    EXPECT_TRUE(mose["mean"]["ncc"].is_null());
    EXPECT_EQ(mose["count"]["ncc"], 0);
    EXPECT_EQ(mose["conventions"]["ged"], "mose");
  }
}

TEST_F(EvalMasks, StackedCasesAndTheirMean) {
  PSAM_REQUIRE_GOLDEN_METRICS(golden());
  // Stack the golden cases that share the shape of case 0 into [C,N,H,W] arrays.
  std::vector<int64_t> ids;
  std::vector<at::Tensor> s, a, p;
  for (int64_t c = 0; c < golden().num_cases(); ++c) {
    if (golden().get(c, "samples").sizes() != golden().get(0, "samples").sizes() ||
        golden().get(c, "annotators").sizes() != golden().get(0, "annotators").sizes()) {
      continue;
    }
    ids.push_back(c);
    s.push_back(golden().get(c, "samples"));
    a.push_back(golden().get(c, "annotators"));
    p.push_back(golden().get(c, "probs"));
  }
  ASSERT_GE(ids.size(), 2u);
  const nlohmann::json j =
      run_json({"--samples", npy("s", torch::stack(s)), "--annotators", npy("a", torch::stack(a)),
                "--probs", npy("p", torch::stack(p))});
  ASSERT_EQ(j["cases"].size(), ids.size());
  double ged_sum = 0.0, hm_sum = 0.0, ncc_sum = 0.0;
  for (size_t k = 0; k < ids.size(); ++k) {
    expect_case_matches(j["cases"][k], ids[k], true);
    ged_sum += golden().scalar(ids[k], "ged_phiseg");
    hm_sum += golden().scalar(ids[k], "hm_iou_mose");
    ncc_sum += golden().scalar(ids[k], "ncc_phiseg");
  }
  const double n = static_cast<double>(ids.size());
  EXPECT_TRUE(near_golden(j["mean"]["ged"].get<double>(), ged_sum / n));
  EXPECT_TRUE(near_golden(j["mean"]["hm_iou"].get<double>(), hm_sum / n));
  EXPECT_TRUE(near_golden(j["mean"]["ncc"].get<double>(), ncc_sum / n));
  EXPECT_EQ(j["count"]["ged"], ids.size());
}

TEST_F(EvalMasks, HandComputedDscAndIouAndTable) {
  // 1 x 4 images. Samples' mean > 0.5 gives "1100"; annotators' strict majority is "1000".
  const auto row = [](std::vector<uint8_t> v) {
    return torch::tensor(v, torch::kUInt8).reshape({-1, 1, 4});
  };
  const std::string s = npy("s", row({1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0}));
  const std::string a = npy("a", row({1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
  const nlohmann::json j = run_json({"--samples", s, "--annotators", a});
  EXPECT_DOUBLE_EQ(j["cases"][0]["dsc"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["cases"][0]["iou"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["cases"][0]["dsc_annotator_mean"].get<double>(), (1 + 0.5 + 0 + 2.0 / 3) / 4);
  // N = 3, M = 4: the transport matching (each sample 1/3, each annotator 1/4). Its optimum,
  // by enumerating every integral plan of 12 copies by hand (a Python enumeration): 35/72.
  // (The IoU distances pass through float32: 1/3 is exact to about 1e-8.)
  EXPECT_NEAR(j["cases"][0]["hm_iou"].get<double>(), 35.0 / 72.0, 1e-7);

  const Result table = run_cli({"eval-masks", "--samples", s, "--annotators", a});
  EXPECT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find("0.666667"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("mean"), std::string::npos) << table.out;
  EXPECT_NE(table.err.find("HM-IoU is the optimal-transport matching"), std::string::npos)
      << table.err;
}

TEST_F(EvalMasks, BadInputsGiveOneLineErrorsNamingTheFile) {
  const at::Tensor masks = (torch::rand({4, 8, 8}) > 0.5).to(torch::kUInt8);
  const std::string good = npy("good", masks);
  // Every error is one line, argument errors included.
  const auto error_of = [&](const std::vector<std::string>& extra, const std::string& s,
                            const std::string& a) {
    std::vector<std::string> args = {"eval-masks", "--samples", s, "--annotators", a};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = run_cli(args);
    EXPECT_NE(r.rc, 0);
    EXPECT_TRUE(r.out.empty()) << r.out;  // nothing half-printed on stdout
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  const std::string twos = npy("twos", masks * 2);
  EXPECT_NE(error_of({}, twos, good).find(twos + ": mask values must be 0 or 1, found 2"),
            std::string::npos);
  const std::string floats = npy("floats", masks.to(torch::kFloat));
  EXPECT_NE(error_of({}, good, floats).find(floats + ": expected uint8 or bool masks"),
            std::string::npos);
  const std::string wide = npy("wide", torch::zeros({4, 8, 9}, torch::kUInt8));
  EXPECT_NE(error_of({}, good, wide).find(wide + ": masks are 8x9"), std::string::npos);
  const std::string stacked = npy("stacked", masks.unsqueeze(0));
  EXPECT_NE(error_of({}, good, stacked).find("does not match"), std::string::npos);
  const std::string two_cases = npy("two_cases", torch::stack({masks, masks}));
  const std::string three_cases = npy("three_cases", torch::stack({masks, masks, masks}));
  EXPECT_NE(error_of({}, two_cases, three_cases).find("same C"), std::string::npos);
  const std::string flat = npy("flat", masks[0]);
  EXPECT_NE(error_of({}, flat, good).find(flat + ": expected shape [N,H,W] or [C,N,H,W]"),
            std::string::npos);
  const std::string probs = npy("probs", torch::rand({3, 8, 8}));
  EXPECT_NE(error_of({"--probs", probs}, good, good).find(probs + ": shape"), std::string::npos);
  const std::string big = npy("big", torch::rand({4, 8, 8}) + 1);
  EXPECT_NE(error_of({"--probs", big}, good, good).find("[0,1]"), std::string::npos);
  EXPECT_NE(error_of({"--ged-convention", "dice"}, good, good).find("ged-convention"),
            std::string::npos);
  EXPECT_NE(error_of({}, (dir_ / "missing.npy").string(), good).find("missing.npy"),
            std::string::npos);
}

// Files written by numpy itself (bool masks, float64 probabilities), as a user's tool would.
TEST_F(EvalMasks, ReadsNumpyWrittenFiles) {
  if (!support::python_has("numpy")) GTEST_SKIP() << "no numpy in " << PSAM_PYTHON;
  const std::string script = tmp_.write("make.py", R"PY(
import sys
import numpy as np
d = sys.argv[1]
s = np.zeros((2, 4, 5, 6), dtype=bool); s[:, :, 1:4, 1:4] = True; s[1, 0] = False
a = np.zeros((2, 2, 5, 6), dtype=np.uint8); a[:, :, 1:4, 1:4] = 1
p = np.where(s, 0.9, 0.1).astype(np.float64); p[:, :, 0, 0] = 0.3
np.save(d + "/s.npy", s); np.save(d + "/a.npy", a); np.save(d + "/p.npy", p)
)PY");
  support::run_python(script + " " + tmp_.path());
  const nlohmann::json j =
      run_json({"--samples", (dir_ / "s.npy").string(), "--annotators", (dir_ / "a.npy").string(),
                "--probs", (dir_ / "p.npy").string()});
  ASSERT_EQ(j["cases"].size(), 2u);
  // Case 0: every sample equals every annotator.
  EXPECT_NEAR(j["cases"][0]["ged"].get<double>(), 0.0, 1e-12);
  EXPECT_EQ(j["cases"][0]["hm_iou"].get<double>(), 1.0);
  EXPECT_EQ(j["cases"][0]["dsc"].get<double>(), 1.0);
  // Case 1: one of four samples is empty: d = 1 to each annotator and to the other three samples.
  EXPECT_NEAR(j["cases"][1]["ged"].get<double>(), 2 * 0.25 - 2 * 3 / 16.0, 1e-12);
  EXPECT_NEAR(j["cases"][1]["hm_iou"].get<double>(), 0.75, 1e-8);
  EXPECT_NEAR(j["cases"][1]["diversity"].get<double>(), 6 / 16.0, 1e-12);
  EXPECT_TRUE(j["cases"][1]["ncc"].is_number());
}

}  // namespace
}  // namespace psam::cli
