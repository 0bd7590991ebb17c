// psam eval-masks: psam's ambiguity metrics for mask samples made by any tool, read from .npy.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli.h"
#include "metrics_report.h"
#include "psam/eval/metrics.h"
#include "psam/eval/metrics_json.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"

namespace psam::cli {
namespace {

struct EvalMasksArgs {
  std::string samples;
  std::string annotators;
  std::string probs;
  std::string ged_convention = "phiseg";
  std::string hm_iou_matching = "transport";
  bool json = false;
};

// A mask array [K,H,W] (one case) or [C,K,H,W] (C cases) of 0/1 as uint8 or bool.
at::Tensor read_masks(const std::string& path, const char* k_name) {
  at::Tensor t = io::read_npy(path);
  PSAM_CHECK(t.dim() == 3 || t.dim() == 4,
             fmt::format("{}: expected shape [{},H,W] or [C,{},H,W], got {}", path, k_name, k_name,
                         c10::str(t.sizes())));
  PSAM_CHECK(t.scalar_type() == torch::kUInt8 || t.scalar_type() == torch::kBool,
             fmt::format("{}: expected uint8 or bool masks, got {} (save with .astype(np.uint8))",
                         path, c10::toString(t.scalar_type())));
  PSAM_CHECK(t.numel() > 0, fmt::format("{}: empty array {}", path, c10::str(t.sizes())));
  if (t.scalar_type() == torch::kUInt8) {
    const int max = t.max().item<uint8_t>();
    PSAM_CHECK(max <= 1, fmt::format("{}: mask values must be 0 or 1, found {}", path, max));
  }
  return t;
}

// Foreground probabilities shaped exactly like the samples.
at::Tensor read_probs(const std::string& path, const std::string& samples_path,
                      const at::Tensor& samples) {
  at::Tensor t = io::read_npy(path);
  PSAM_CHECK(t.is_floating_point(),
             fmt::format("{}: expected float32 or float64 probabilities, got {}", path,
                         c10::toString(t.scalar_type())));
  PSAM_CHECK(t.sizes() == samples.sizes(),
             fmt::format("{}: shape {} differs from the samples' {} in {}", path,
                         c10::str(t.sizes()), c10::str(samples.sizes()), samples_path));
  PSAM_CHECK(
      ((t >= 0) & (t <= 1)).all().item<bool>(),
      fmt::format("{}: probabilities must lie in [0,1] (found NaN or a value outside)", path));
  return t;
}

int eval_masks(const EvalMasksArgs& args, Io io) {
  eval::MetricOptions options;
  options.ged_convention = eval::iou_convention_from_string(args.ged_convention);
  options.hm_iou_matching =
      value_of<eval::HmIouMatching>(args.hm_iou_matching, "--hm-iou-matching");

  at::Tensor samples = read_masks(args.samples, "N");
  at::Tensor annotators = read_masks(args.annotators, "M");
  PSAM_CHECK(samples.dim() == annotators.dim() &&
                 (samples.dim() == 3 || samples.size(0) == annotators.size(0)),
             fmt::format("{}: shape {} does not match {} in {}: expected [M,H,W] for [N,H,W] "
                         "samples, or [C,M,H,W] for [C,N,H,W] samples with the same C",
                         args.annotators, c10::str(annotators.sizes()), c10::str(samples.sizes()),
                         args.samples));
  PSAM_CHECK(samples.size(-2) == annotators.size(-2) && samples.size(-1) == annotators.size(-1),
             fmt::format("{}: masks are {}x{}, but the samples in {} are {}x{} (H x W)",
                         args.annotators, annotators.size(-2), annotators.size(-1), args.samples,
                         samples.size(-2), samples.size(-1)));
  at::Tensor probs;
  if (!args.probs.empty()) probs = read_probs(args.probs, args.samples, samples);
  if (samples.dim() == 3) {  // one case -> C = 1
    samples = samples.unsqueeze(0);
    annotators = annotators.unsqueeze(0);
    if (probs.defined()) probs = probs.unsqueeze(0);
  }

  const int64_t num_cases = samples.size(0);
  const int64_t n = samples.size(1);
  const int64_t m = annotators.size(1);
  if (n % m != 0) {
    io.err << fmt::format(
        "psam eval-masks: note: N={} samples is not a multiple of M={} annotators: HM-IoU is the "
        "optimal-transport matching (each sample 1/N, each annotator 1/M; docs/metrics.md)\n",
        n, m);
  }
  std::vector<eval::CaseMetrics> cases;
  std::vector<std::string> labels;
  for (int64_t c = 0; c < num_cases; ++c) {
    cases.push_back(eval::evaluate_case(samples[c], annotators[c],
                                        probs.defined() ? probs[c] : at::Tensor(), options));
    labels.push_back(std::to_string(c));
    if (probs.defined() && std::isnan(cases.back().ncc)) {
      io.err << fmt::format(
          "psam eval-masks: warning: case {}: NCC undefined (a cross-entropy map is constant): "
          "ncc is null\n",
          c);
    }
  }
  const eval::MetricSummary summary = eval::summarize(cases, options);

  if (args.json) {
    nlohmann::json out;
    out["cases"] = nlohmann::json::array();
    for (const auto& c : cases) out["cases"].push_back(eval::case_metrics_json(c));
    const nlohmann::json s = eval::summary_json(summary);
    out["mean"] = s["mean"];
    out["count"] = s["count"];
    out["conventions"] = eval::conventions_json(options);
    io.out << out.dump() << "\n";
  } else {
    io.out << metrics_table(labels, cases, summary);
    io.out << fmt::format(
        "{} case(s), N={} samples, M={} annotators; GED and diversity: {} convention, HM-IoU: "
        "{}, {} matching; NCC: {}\n",
        num_cases, n, m, args.ged_convention, eval::to_string(options.hm_iou_convention),
        args.hm_iou_matching,
        probs.defined() ? "PHiSeg" : "not computed (no --probs)");
  }
  return 0;
}

}  // namespace

void add_eval_masks_command(CLI::App& app, Io io, int& rc) {
  auto* sub = app.add_subcommand(
      "eval-masks",
      "Score mask samples of any model against annotator masks: GED, HM-IoU, NCC, diversity, "
      "DSC, IoU");
  auto args = std::make_shared<EvalMasksArgs>();
  sub->add_option("--samples", args->samples,
                  "predicted samples .npy, uint8/bool 0/1, [N,H,W] (one case) or [C,N,H,W]")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--annotators", args->annotators,
                  "annotator masks .npy, uint8/bool 0/1, [M,H,W] or [C,M,H,W]")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--probs", args->probs,
                  "foreground probabilities .npy, float, shaped like the samples (for NCC)")
      ->check(CLI::ExistingFile);
  sub->add_option("--ged-convention", args->ged_convention,
                  "IoU convention of GED and diversity: phiseg (default), mose, empty-zero")
      ->check(CLI::IsMember({"phiseg", "mose", "empty-zero"}));
  sub->add_option("--hm-iou-matching", args->hm_iou_matching,
                  "transport (default: every sample matched, MoSE's HM-IoU for any N, M) or "
                  "best_of_n (Flow-SSN: each annotator to a different sample; not comparable)")
      ->check(CLI::IsMember({"transport", "best_of_n"}));
  sub->add_flag("--json", args->json, "print one JSON object to stdout instead of a table");
  sub->callback([args, io, &rc] { rc = eval_masks(*args, io); });
}

}  // namespace psam::cli
