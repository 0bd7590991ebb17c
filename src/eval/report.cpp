#include "psam/eval/report.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <nlohmann/json.hpp>

#include "psam/eval/label_text.h"
#include "psam/eval/metrics.h"
#include "psam/eval/metrics_json.h"
#include "psam/eval/tiles.h"
#include "psam/io/image.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::eval {
namespace {

// Entropy in nats -> black (certain) .. red .. yellow (ln 2, maximally uncertain).
at::Tensor heat(const at::Tensor& uncertainty) {
  const at::Tensor t = (uncertainty / std::log(2.0)).clamp(0, 1);
  return torch::stack({(2 * t).clamp_max(1), (2 * t - 1).clamp_min(0), torch::zeros_like(t)});
}

std::string interval_cell(const nlohmann::json& metric) {
  if (metric.is_null() || metric["mean"].is_null()) return "-";
  const auto& ci = metric["ci"];
  if (ci.is_null() || ci[0].is_null()) return fmt::format("{:.4f}", metric["mean"].get<double>());
  return fmt::format("{:.4f} [{:.4f}, {:.4f}]", metric["mean"].get<double>(), ci[0].get<double>(),
                     ci[1].get<double>());
}

nlohmann::json stats_json(const std::vector<MetricStat>& stats) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& s : stats) {
    metrics[s.name] = {
        {"mean", number_or_null(s.mean)},
        {"ci", {number_or_null(s.ci.low), number_or_null(s.ci.high)}},
        {"count", s.count},
    };
  }
  return metrics;
}

}  // namespace

nlohmann::json eval_summary_json(const EvalResult& result, const nlohmann::json& identity) {
  nlohmann::json by_samples = nlohmann::json::object();
  for (size_t i = 0; i < result.counts.size() && i < result.count_stats.size(); ++i)
    by_samples[std::to_string(result.counts[i])] = stats_json(result.count_stats[i]);
  nlohmann::json summary = {
      {"source", result.source},
      {"model", identity},
      {"split", result.split},
      {"cases", result.cases.size()},
      {"split_cases", result.split_cases},
      {"split_fingerprint", result.split_fingerprint},
      {"max_cases", result.max_cases},
      {"partial", result.partial()},
      {"samples", result.samples},
      {"annotators", result.annotators},
      {"deterministic", result.deterministic},
      {"prompt", data::to_string(result.prompt)},
      {"tta", name_of(result.tta)},
      {"sampling_seed", result.seed},
      {"metrics", stats_json(result.stats)},
      {"sample_counts", result.counts},
      {"by_samples", by_samples},
      {"bootstrap",
       {{"resamples", result.bootstrap.resamples},
        {"level", result.bootstrap.level},
        {"seed", result.bootstrap.seed}}},
      {"conventions", conventions_json(result.metrics)},
      {"seconds", result.seconds},
  };
  if (!result.quality.empty()) {
    nlohmann::json quality = nlohmann::json::object();
    for (const auto& q : result.quality) {
      quality[q.name] = {{"count", q.stats.count},
                         {"spearman", number_or_null(q.stats.spearman)},
                         {"pearson", number_or_null(q.stats.pearson)},
                         {"mae", number_or_null(q.stats.mae)},
                         {"auroc", number_or_null(q.stats.auroc)}};
    }
    summary["quality"] = quality;
  }
  return summary;
}

std::string quality_table(const EvalResult& result) {
  if (result.quality.empty()) return "";
  const auto cell = [](double v) {
    return std::isnan(v) ? fmt::format("{:>9}", "-") : fmt::format("{:>9.3f}", v);
  };
  std::string out = fmt::format("{:<24}{:>9}{:>9}{:>9}{:>9}{:>7}\n", "quality prediction",
                                "Spearman", "Pearson", "MAE", "AUROC", "n");
  for (const auto& q : result.quality) {
    out += fmt::format("{:<24}{}{}{}{}{:>7}\n", q.name, cell(q.stats.spearman),
                       cell(q.stats.pearson), cell(q.stats.mae), cell(q.stats.auroc),
                       q.stats.count);
  }
  return out;
}

std::string per_case_csv(const EvalResult& result) {
  std::string out = "index,id";
  for (const auto& s : result.stats) out += "," + s.name;
  // The prefixes' metrics follow, named by their n: ged_n16, ...
  for (size_t i = 0; i + 1 < result.counts.size(); ++i)
    for (const auto& s : result.stats) out += fmt::format(",{}_n{}", s.name, result.counts[i]);
  out += "\n";
  for (const auto& c : result.cases) {
    // Ids come from stores (meta.jsonl); quote them so a comma cannot shift the columns.
    std::string id = c.id;
    for (size_t p = id.find('"'); p != std::string::npos; p = id.find('"', p + 2))
      id.insert(p, "\"");
    out += fmt::format("{},\"{}\"", c.index, id);
    auto write = [&out](const CaseMetrics& m) {
      for (const auto& [name, value] : m.scalars())
        out += std::isnan(value) ? std::string(",") : fmt::format(",{}", value);
    };
    write(c.metrics);
    for (const auto& m : c.prefixes) write(m);
    out += "\n";
  }
  return out;
}

at::Tensor samples_grid(const std::vector<CaseFigure>& figures, int64_t max_samples) {
  PSAM_CHECK(!figures.empty(), "samples_grid: no cases to draw");
  std::vector<at::Tensor> rows;
  for (const auto& f : figures) {
    const at::Tensor image = f.image.to(torch::kFloat).clamp(0, 1);
    const int64_t factor = tile_factor(std::max(image.size(1), image.size(2)));
    std::vector<at::Tensor> tiles = {image};
    for (int64_t k = 0; k < f.annotators.size(0); ++k)
      tiles.push_back(overlay(image, f.annotators[k], {1.0f, 0.1f, 0.1f}));
    for (int64_t i = 0; i < std::min(max_samples, f.samples.size(0)); ++i)
      tiles.push_back(overlay(image, f.samples[i], {0.1f, 1.0f, 0.2f}));
    tiles.push_back(f.mean.to(torch::kFloat).unsqueeze(0).expand({3, -1, -1}));
    tiles.push_back(heat(f.uncertainty.to(torch::kFloat)));
    for (auto& t : tiles) t = enlarge(t, factor);
    if (rows.empty()) {
      // Column labels over the first case's tiles (every case has the same columns): the long
      // name where it fits the tile, else the short one.
      std::vector<std::pair<std::string, std::string>> names = {{"image", "img"}};
      for (int64_t k = 0; k < f.annotators.size(0); ++k)
        names.emplace_back(fmt::format("rater {}", k + 1), fmt::format("r{}", k + 1));
      for (int64_t i = 0; i < std::min(max_samples, f.samples.size(0)); ++i)
        names.emplace_back(fmt::format("sample {}", i + 1), fmt::format("s{}", i + 1));
      names.emplace_back("mean", "mean");
      names.emplace_back("uncertainty", "unc");
      std::vector<at::Tensor> labels;
      for (size_t c = 0; c < names.size(); ++c) {
        const int64_t width = tiles[c].size(2);
        const bool fits = render_text(names[c].first, 2).size(1) <= width - 4;
        labels.push_back(
            label_strip(fits ? names[c].first : names[c].second, width, /*centred=*/true));
      }
      rows.push_back(join(labels, 2));
    }
    rows.push_back(join(tiles, 2));
  }
  const at::Tensor grid = join(rows, 1);
  return to_rgb8(grid);
}

void write_eval_report(const EvalResult& result, const std::string& dir,
                       const nlohmann::json& identity) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  PSAM_CHECK(!ec, fmt::format("{}: cannot create the report directory: {}", dir, ec.message()));
  const std::string summary = eval_summary_json(result, identity).dump(2) + "\n";
  write_file_atomic(dir + "/summary.json", [&](std::ostream& out) { out << summary; });
  const std::string csv = per_case_csv(result);
  write_file_atomic(dir + "/per_case.csv", [&](std::ostream& out) { out << csv; });
  if (!result.figures.empty()) io::write_image(dir + "/samples.png", samples_grid(result.figures));
}

std::vector<std::pair<std::string, nlohmann::json>> rows_by_sample_count(
    const std::string& label, const nlohmann::json& summary) {
  std::vector<std::pair<std::string, nlohmann::json>> rows;
  const auto counts = summary.value("sample_counts", nlohmann::json::array());
  for (size_t i = 0; i + 1 < counts.size(); ++i) {
    nlohmann::json row = summary;
    row["metrics"] = summary["by_samples"][std::to_string(counts[i].get<int64_t>())];
    row["samples"] = counts[i];
    rows.emplace_back(fmt::format("{} n={}", label, counts[i].get<int64_t>()), std::move(row));
  }
  rows.emplace_back(counts.size() > 1 ? fmt::format("{} n={}", label, summary["samples"].get<int64_t>())
                                      : label,
                    summary);
  return rows;
}

std::string table_notes(const std::vector<std::pair<std::string, nlohmann::json>>& rows) {
  std::string out;
  for (const auto& [label, summary] : rows) {
    const auto& metrics = summary.at("metrics");
    const int64_t n = summary.value("samples", int64_t{0});
    const int64_t k = summary.value("annotators", int64_t{0});
    const int64_t cases = summary.value("cases", int64_t{0});
    const bool hm_missing = !metrics.contains("hm_iou") || metrics["hm_iou"].is_null() ||
                            metrics["hm_iou"]["mean"].is_null();
    if (k > 0 && n > 0 && n % k != 0) {
      out += hm_missing
                 ? fmt::format("note: {}: HM-IoU is - because matching N = {} samples to K = {} "
                               "annotators takes lcm(N, K) = {} copies, more than {}; use an N "
                               "that is a multiple of K\n",
                               label, n, k, std::lcm(n, k), kMaxMatchedCopies)
                 : fmt::format("note: {}: N = {} samples is not a multiple of K = {} annotators: "
                               "HM-IoU is the optimal-transport matching (each sample 1/N, each "
                               "annotator 1/K; docs/metrics.md)\n",
                               label, n, k);
    }
    // The samples' spread on the raters' scale: near 1 when the model disagrees with itself
    // as much as the annotators disagree with each other.
    const auto mean_of_metric = [&metrics](const char* key) {
      return metrics.contains(key) && metrics[key].is_object() && metrics[key]["mean"].is_number()
                 ? metrics[key]["mean"].get<double>()
                 : std::nan("");
    };
    const double samples = mean_of_metric("diversity"), raters = mean_of_metric("annotator_diversity");
    if (n > 1 && !std::isnan(samples) && raters > 0) {
      out += fmt::format("note: {}: sample diversity {:.4f}, annotators' diversity E[d(Y,Y')] "
                         "{:.4f}: ratio {:.2f}\n",
                         label, samples, raters, samples / raters);
    }
    if (cases == 1) {
      out += fmt::format("note: {}: one case; its bootstrap interval is that case's value and says "
                         "nothing about the spread\n",
                         label);
    }
    if (summary.value("deterministic", false) && n > 1) {
      out += fmt::format("note: {}: a deterministic model; its {} samples are identical\n", label,
                         n);
    }
    if (summary.value("partial", false)) {
      out += fmt::format("note: {}: a PARTIAL evaluation, {} of the split's {} cases\n", label,
                         cases, summary.value("split_cases", int64_t{0}));
    }
  }
  return out;
}

std::string comparison_table(const std::vector<std::pair<std::string, nlohmann::json>>& rows) {
  static const std::vector<std::pair<std::string, std::string>> kColumns = {
      {"ged", "GED"}, {"hm_iou", "HM-IoU"}, {"dsc", "DSC"},
      {"iou", "IoU"}, {"ncc", "NCC"},       {"diversity", "diversity"}};
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths(kColumns.size() + 1, 0);
  std::vector<std::string> header = {"model"};
  for (const auto& c : kColumns) header.push_back(c.second);
  cells.push_back(header);
  for (const auto& [label, summary] : rows) {
    std::vector<std::string> line = {label};
    const auto& metrics = summary.at("metrics");
    for (const auto& c : kColumns)
      line.push_back(
          interval_cell(metrics.contains(c.first) ? metrics[c.first] : nlohmann::json(nullptr)));
    cells.push_back(line);
  }
  for (const auto& line : cells)
    for (size_t k = 0; k < line.size(); ++k) widths[k] = std::max(widths[k], line[k].size());
  std::string out;
  for (const auto& line : cells) {
    out += fmt::format("{:<{}}", line[0], widths[0]);
    for (size_t k = 1; k < line.size(); ++k) out += fmt::format("  {:>{}}", line[k], widths[k]);
    out += "\n";
  }
  return out;
}

}  // namespace psam::eval
