// Reports of an evaluation (psam/eval/evaluator.h): summary.json, per_case.csv, samples.png and
// a printed comparison table. Every file is written atomically (temporary + rename).
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "psam/eval/evaluator.h"

namespace psam::eval {

// {"source", "model": identity, "split", "cases", "samples", "annotators", "prompt",
//  "sampling_seed", "deterministic", "metrics": {name: {"mean", "ci": [low, high], "count"}},
//  "bootstrap": {"resamples", "level", "seed"}, "conventions", "seconds"}; NaN -> null. A
// method that predicts its masks' quality adds "quality": {name: {"count", "spearman",
// "pearson", "mae", "auroc"}}.
// `identity` names the model (checkpoint, config, hash ...); the evaluator does not know it.
nlohmann::json eval_summary_json(const EvalResult& result, const nlohmann::json& identity);

// One row per case: index, id, then every CaseMetrics scalar (empty where undefined), values
// written with full (round-trip) precision.
std::string per_case_csv(const EvalResult& result);

// The picture of the result's figures: one row per case with, left to right, the image, each
// annotator's mask over it (red), the first `max_samples` samples over it (green), the mean
// foreground probability (grey) and the per-pixel uncertainty (entropy, black-red-yellow).
// Tiles are enlarged (nearest) to at least 96 px. uint8 [rows,cols,3] RGB; psam::Error when
// there are no figures.
at::Tensor samples_grid(const std::vector<CaseFigure>& figures, int64_t max_samples = 4);

// The quality predictions of a result as a table: one row per prediction with Spearman,
// Pearson, MAE and failure AUROC ("-" where undefined); empty text when it has none.
std::string quality_table(const EvalResult& result);

// Writes dir/summary.json, dir/per_case.csv and, when the result has figures, dir/samples.png
// (creating dir).
void write_eval_report(const EvalResult& result, const std::string& dir,
                       const nlohmann::json& identity);

// The main metrics of several summaries (eval_summary_json objects) side by side: one row per
// (label, summary), columns GED, HM-IoU, DSC, IoU, NCC, diversity as "mean [low, high]".
// A summary as table rows: itself under `label`, preceded, when it scored several sample counts,
// by one row per smaller n ("label n=16") holding that n's metrics.
std::vector<std::pair<std::string, nlohmann::json>> rows_by_sample_count(
    const std::string& label, const nlohmann::json& summary);

std::string comparison_table(const std::vector<std::pair<std::string, nlohmann::json>>& rows);
// One "note: ..." line per thing a reader of that table must know: HM-IoU by the transport rule
// (N not a multiple of K) or left out (too many copies), an interval from one case, identical
// samples of a deterministic model, a partial evaluation. Empty when there is none.
std::string table_notes(const std::vector<std::pair<std::string, nlohmann::json>>& rows);

}  // namespace psam::eval
