// The report of psam compare: tables (markdown, CSV, JSON), paired comparisons against the
// baseline, SVG charts and a sample grid. Every number comes from the runs' own summary.json and
// per_case.csv, so the report can be rebuilt from the run folders.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compare.h"
#include "psam/eval/across_runs.h"
#include "psam/eval/bootstrap.h"
#include "psam/eval/label_text.h"
#include "psam/io/image.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::cli {
namespace {
namespace fs = std::filesystem;

const std::vector<std::pair<std::string, std::string>> kMetrics = {
    {"ged", "GED"}, {"hm_iou", "HM-IoU"}, {"dsc", "DSC"},
    {"iou", "IoU"}, {"ncc", "NCC"},       {"diversity", "diversity"}};

double number(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::nan("");
}

// The metrics of a summary at sample count n (the headline metrics at N).
const nlohmann::json& metrics_at(const nlohmann::json& summary, int64_t n) {
  if (summary.contains("by_samples") && summary["by_samples"].contains(std::to_string(n)))
    return summary["by_samples"][std::to_string(n)];
  return summary["metrics"];
}

std::vector<int64_t> counts_of(const nlohmann::json& summary) {
  std::vector<int64_t> counts;
  if (summary.contains("sample_counts"))
    for (const auto& n : summary["sample_counts"]) counts.push_back(n.get<int64_t>());
  if (counts.empty()) counts.push_back(summary["samples"].get<int64_t>());
  return counts;
}

std::string cell(const nlohmann::json& metric) {
  if (!metric.contains("mean") || metric["mean"].is_null()) return "-";
  const auto& ci = metric["ci"];
  if (ci.is_null() || ci[0].is_null()) return fmt::format("{:.4f}", number(metric["mean"]));
  return fmt::format("{:.4f} [{:.4f}, {:.4f}]", number(metric["mean"]), number(ci[0]),
                     number(ci[1]));
}

nlohmann::json or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

// per_case.csv as index -> column -> value (NaN where empty).
using PerCase = std::map<int64_t, std::map<std::string, double>>;
PerCase read_per_case(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  for (std::stringstream h(line); std::getline(h, line, ',');) header.push_back(line);
  std::map<int64_t, std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // index,"id" (quotes doubled inside),values...: skip the quoted id.
    const size_t open = line.find('"');
    size_t close = open + 1;
    while ((close = line.find('"', close)) != std::string::npos && close + 1 < line.size() &&
           line[close + 1] == '"')
      close += 2;
    PSAM_CHECK(open != std::string::npos && close != std::string::npos,
               fmt::format("{}: malformed row '{}'", path, line));
    const int64_t index = std::stoll(line.substr(0, open - 1));
    std::vector<std::string> values;
    std::stringstream rest(line.substr(close + 1));
    std::string v;
    std::getline(rest, v, ',');  // the empty field after the id
    while (std::getline(rest, v, ',')) values.push_back(v);
    if (!line.empty() && line.back() == ',') values.push_back("");
    auto& row = rows[index];
    for (size_t k = 0; k < values.size() && k + 2 < header.size(); ++k)
      row[header[k + 2]] = values[k].empty() ? NAN : std::stod(values[k]);
  }
  return rows;
}

// One metric's column of per_case.csv: case index -> value.
eval::RunCases column(const PerCase& cases, const std::string& metric) {
  eval::RunCases out;
  for (const auto& [index, row] : cases)
    if (const auto it = row.find(metric); it != row.end()) out.emplace(index, it->second);
  return out;
}

std::string svg_text(double x, double y, const std::string& text, const char* anchor = "middle",
                     int size = 11) {
  return fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"{}\" "
      "font-family=\"sans-serif\">{}</text>\n",
      x, y, size, anchor, text);
}

const char* kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// A bar per method (mean) with its interval as a whisker, on a 0-based axis.
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& means, const std::vector<eval::Interval>& cis) {
  const double w = 120.0 + 90.0 * labels.size(), h = 320, left = 60, bottom = 260, top = 40;
  double high = 1e-9;
  for (size_t i = 0; i < means.size(); ++i) {
    if (!std::isnan(means[i])) high = std::max(high, means[i]);
    if (!std::isnan(cis[i].high)) high = std::max(high, cis[i].high);
  }
  high *= 1.1;
  const auto y = [&](double v) { return bottom - (bottom - top) * v / high; };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      w, h);
  s += svg_text(w / 2, 20, title, "middle", 13);
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", left, top,
                   left, bottom);
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{:.0f}\" y2=\"{}\" stroke=\"black\"/>\n", left,
                   bottom, w - 20, bottom);
  for (int t = 0; t <= 4; ++t) {
    const double v = high * t / 4;
    s += svg_text(left - 5, y(v) + 4, fmt::format("{:.3g}", v), "end", 10);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const double x = left + 20 + 90.0 * i;
    if (!std::isnan(means[i])) {
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"60\" height=\"{:.1f}\" fill=\"{}\"/>\n", x,
          y(means[i]), bottom - y(means[i]), kColours[i % 10]);
    }
    if (!std::isnan(cis[i].low)) {
      s += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n"
          "<line x1=\"{3:.1f}\" y1=\"{1:.1f}\" x2=\"{4:.1f}\" y2=\"{1:.1f}\" stroke=\"black\"/>\n"
          "<line x1=\"{3:.1f}\" y1=\"{2:.1f}\" x2=\"{4:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n",
          x + 30, y(cis[i].low), y(cis[i].high), x + 22, x + 38);
    }
    s += svg_text(x + 30, bottom + 16, labels[i], "middle", 10);
  }
  return s + "</svg>\n";
}

// GED against n, one line per method.
std::string ged_chart(const std::vector<std::string>& labels,
                      const std::vector<std::vector<std::pair<int64_t, double>>>& lines) {
  const double w = 560, h = 340, left = 60, right = 400, bottom = 290, top = 40;
  double high = 1e-9;
  int64_t most = 1;
  for (const auto& line : lines)
    for (const auto& [n, v] : line) {
      if (!std::isnan(v)) high = std::max(high, v);
      most = std::max(most, n);
    }
  high *= 1.1;
  const auto x = [&](double n) { return left + (right - left) * n / most; };
  const auto y = [&](double v) { return bottom - (bottom - top) * v / high; };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      w, h);
  s += svg_text((left + right) / 2, 20, "GED against the number of samples n", "middle", 13);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", left,
                   top, bottom);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", left,
                   bottom, right);
  for (int t = 0; t <= 4; ++t)
    s += svg_text(left - 5, y(high * t / 4) + 4, fmt::format("{:.3g}", high * t / 4), "end", 10);
  std::vector<int64_t> ticks;
  for (const auto& line : lines)
    for (const auto& point : line) ticks.push_back(point.first);
  std::sort(ticks.begin(), ticks.end());
  ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
  for (int64_t n : ticks) s += svg_text(x(n), bottom + 16, std::to_string(n), "middle", 10);
  s += svg_text((left + right) / 2, bottom + 34, "n", "middle", 11);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string points;
    for (const auto& [n, v] : lines[i]) {
      if (std::isnan(v)) continue;
      points += fmt::format("{:.1f},{:.1f} ", x(n), y(v));
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x(n), y(v),
                       kColours[i % 10]);
    }
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\"/>\n", points,
                     kColours[i % 10]);
    s += fmt::format("<rect x=\"{}\" y=\"{:.0f}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n",
                     right + 20, top + 18.0 * i, kColours[i % 10]);
    s += svg_text(right + 38, top + 18.0 * i + 10, labels[i], "start", 11);
  }
  return s + "</svg>\n";
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

// Each method's samples.png (the same first cases of the split) stacked in table order, white
// rows between; narrower pictures are padded with white.
void write_sample_grid(const std::string& path, const std::vector<std::string>& pictures,
                       const std::vector<std::string>& methods) {
  std::vector<at::Tensor> images;
  int64_t width = 0;
  for (const auto& p : pictures) {
    images.push_back(io::read_image_rgb(p));
    width = std::max(width, images.back().size(1));
  }
  if (images.empty()) return;
  std::vector<at::Tensor> rows;
  for (size_t i = 0; i < images.size(); ++i) {
    if (!rows.empty()) rows.push_back(torch::full({8, width, 3}, 255, torch::kUInt8));
    // The method's name above its block.
    const at::Tensor name = eval::label_strip(methods[i], width);
    rows.push_back((name * 255).round().to(torch::kUInt8).permute({1, 2, 0}));
    rows.push_back(torch::constant_pad_nd(images[i], {0, 0, 0, width - images[i].size(1)}, 255));
  }
  io::write_image(path, torch::cat(rows, 0).contiguous());
}

}  // namespace

std::string write_compare_report(const std::string& dir, const std::string& title,
                                 const std::vector<std::string>& methods,
                                 const std::string& baseline,
                                 const std::vector<ComparedRun>& runs) {
  fs::create_directories(dir);
  std::vector<std::string> splits;
  for (const auto& r : runs)
    if (std::find(splits.begin(), splits.end(), r.split) == splits.end()) splits.push_back(r.split);
  const auto of = [&](const std::string& method, const std::string& split) {
    std::vector<const ComparedRun*> out;
    for (const auto& r : runs)
      if (r.method == method && r.split == split) out.push_back(&r);
    return out;
  };
  PSAM_CHECK(!runs.empty(), "psam compare: no runs to report");
  const nlohmann::json& first = runs.front().summary;

  std::string md = fmt::format("# {}\n\n", title);
  md += fmt::format(
      "Store `{}`, prompt {}, K = {} annotators, sampling seed {}, {} bootstrap resamples at "
      "level {}. Cells: mean [95% bootstrap interval over cases].\n\n",
      first["model"].value("store", ""), first.value("prompt", ""),
      first.value("annotators", 0), first.value("sampling_seed", 0),
      first["bootstrap"].value("resamples", 0), first["bootstrap"].value("level", 0.0));
  std::string csv = "split,method,seed,samples,metric,mean,ci_low,ci_high,sd,count\n";
  nlohmann::json js = {{"benchmark", title}, {"baseline", baseline}, {"splits", nlohmann::json::object()}};
  const auto header = [&](const std::string& first_cols) {
    std::string h = "| " + first_cols;
    std::string rule = "|";
    for (auto k = std::count(first_cols.begin(), first_cols.end(), '|'); k >= 0; --k)
      rule += "---|";
    for (const auto& m : kMetrics) {
      h += " | " + m.second;
      rule += "---|";
    }
    return h + " |\n" + rule + "\n";
  };

  for (const auto& split : splits) {
    nlohmann::json& jsplit = js["splits"][split];
    md += fmt::format("## Split `{}`\n\n", split);
    // The case ids every method was scored on, as a hash: equal across reports means the same
    // test set.
    for (const auto& r : runs) {
      if (r.split != split || !r.summary.contains("split_fingerprint")) continue;
      const std::string fingerprint = r.summary["split_fingerprint"].get<std::string>();
      jsplit["split_fingerprint"] = fingerprint;
      md += fmt::format("Cases: {} (sha256 of the sorted case ids: `{}`)\n\n",
                        r.summary.value("split_cases", r.summary.value("cases", int64_t{0})),
                        fingerprint);
      break;
    }
    std::string per_seed = header("method | seed | n"), across = header("method | seeds | n");
    std::vector<std::string> bar_labels;
    std::map<std::string, std::vector<double>> bar_means;
    std::map<std::string, std::vector<eval::Interval>> bar_cis;
    std::vector<std::vector<std::pair<int64_t, double>>> ged_lines;
    std::vector<std::string> pictures, pictured;
    for (const auto& method : methods) {
      const auto mine = of(method, split);
      if (mine.empty()) continue;
      const std::vector<int64_t> counts = counts_of(mine.front()->summary);
      nlohmann::json& jm = jsplit["methods"][method];
      for (const auto* r : mine) {
        for (int64_t n : counts) {
          const auto& metrics = metrics_at(r->summary, n);
          per_seed += fmt::format("| {} | {} | {}", method, r->seed, n);
          for (const auto& [key, label] : kMetrics) {
            const nlohmann::json m = metrics.contains(key) ? metrics[key] : nlohmann::json::object();
            per_seed += " | " + cell(m);
            jm["seeds"][std::to_string(r->seed)][std::to_string(n)][key] = m;
            if (m.contains("mean"))
              csv += fmt::format("{},{},{},{},{},{},{},{},,{}\n", split, method, r->seed, n, key,
                                 m["mean"].is_null() ? "" : fmt::format("{}", number(m["mean"])),
                                 m["ci"][0].is_null() ? "" : fmt::format("{}", number(m["ci"][0])),
                                 m["ci"][1].is_null() ? "" : fmt::format("{}", number(m["ci"][1])),
                                 m.value("count", 0));
          }
          per_seed += " |\n";
        }
      }
      std::vector<std::pair<int64_t, double>> ged_line;
      for (int64_t n : counts) {
        across += fmt::format("| {} | {} | {}", method, mine.size(), n);
        for (const auto& [key, label] : kMetrics) {
          std::vector<double> means;
          eval::Interval widest{NAN, NAN};
          for (const auto* r : mine) {
            const auto& metrics = metrics_at(r->summary, n);
            if (!metrics.contains(key)) continue;
            means.push_back(number(metrics[key]["mean"]));
            const double lo = number(metrics[key]["ci"][0]), hi = number(metrics[key]["ci"][1]);
            if (!std::isnan(lo)) {
              widest.low = std::isnan(widest.low) ? lo : std::min(widest.low, lo);
              widest.high = std::isnan(widest.high) ? hi : std::max(widest.high, hi);
            }
          }
          const eval::RunsInterval ms = eval::across_runs(means);
          const auto text = [](double v) { return std::isnan(v) ? "" : fmt::format("{}", v); };
          across += std::isnan(ms.mean)      ? " | -"
                    : std::isnan(ms.ci.low) ? fmt::format(" | {:.4f} (one seed)", ms.mean)
                                            : fmt::format(" | {:.4f} ± {:.4f} [{:.4f}, {:.4f}]",
                                                          ms.mean, ms.sd, ms.ci.low, ms.ci.high);
          jm["across_seeds"][std::to_string(n)][key] = {
              {"mean", or_null(ms.mean)},
              {"sd", or_null(ms.sd)},
              {"t_interval", {or_null(ms.ci.low), or_null(ms.ci.high)}},
              {"seeds", ms.runs}};
          csv += fmt::format("{},{},all,{},{},{},{},{},{},{}\n", split, method, n, key,
                             text(ms.mean), text(ms.ci.low), text(ms.ci.high), text(ms.sd),
                             ms.runs);
          if (n == counts.back()) {
            bar_means[key].push_back(ms.mean);
            bar_cis[key].push_back(std::isnan(ms.ci.low) ? widest : ms.ci);
          }
          if (key == "ged") ged_line.emplace_back(n, ms.mean);
        }
        across += " |\n";
      }
      bar_labels.push_back(method);
      ged_lines.push_back(ged_line);
      const std::string picture = mine.front()->eval_dir + "/samples.png";
      if (fs::exists(picture)) {
        pictures.push_back(picture);
        pictured.push_back(method);
      }
    }
    md += "### Each run\n\n" + per_seed + "\n";
    md += "### Across training seeds: mean ± sd of the runs' means [95% t-interval]\n\n" +
          across +
          "\nA run on another machine (another BLAS kernel, thread count or libtorch build) "
          "differs from this one like another training seed does (docs/compare.md measures "
          "both): the t-interval over seeds is the spread to expect, not the bootstrap interval "
          "over the cases of one run.\n\n";

    // Paired differences at the largest n, seed by seed (a baseline that learns nothing has one
    // run for every seed).
    const auto base = of(baseline, split);
    std::map<std::string, PerCase> baseline_cases;  // read once per baseline run
    std::string pairs = header("method | seed | cases");
    for (const auto& method : methods) {
      if (method == baseline) continue;
      // Per metric, each seed's per-case values of the method and of its baseline run.
      std::map<std::string, std::vector<eval::RunCases>> pooled_mine, pooled_theirs;
      eval::BootstrapOptions pooled_options;
      for (const auto* r : of(method, split)) {
        const ComparedRun* b = base.front();
        for (const auto* candidate : base)
          if (candidate->seed == r->seed) b = candidate;
        const auto& bs = r->summary["bootstrap"];
        eval::BootstrapOptions options;
        options.resamples = bs.value("resamples", 1000);
        options.level = bs.value("level", 0.95);
        options.seed = bs.value("seed", uint64_t{0});
        const auto mine = read_per_case(r->eval_dir + "/per_case.csv");
        auto cached = baseline_cases.find(b->eval_dir);
        if (cached == baseline_cases.end())
          cached = baseline_cases
                       .emplace(b->eval_dir, read_per_case(b->eval_dir + "/per_case.csv"))
                       .first;
        const PerCase& theirs = cached->second;
        pooled_options = options;
        std::string row;
        int64_t cases = 0;
        for (const auto& [key, label] : kMetrics) {
          pooled_mine[key].push_back(column(mine, key));
          pooled_theirs[key].push_back(column(theirs, key));
          // This seed alone: the mean over shared cases of method - baseline, bootstrapped.
          const eval::PooledDifference p = eval::pooled_paired_difference(
              {pooled_mine[key].back()}, {pooled_theirs[key].back()}, options);
          cases = std::max(cases, p.cases);
          row += std::isnan(p.mean) ? " | -"
                                    : fmt::format(" | {:+.4f} [{:+.4f}, {:+.4f}]", p.mean,
                                                  p.ci.low, p.ci.high);
          jsplit["paired"][method][std::to_string(r->seed)][key] = {
              {"mean_difference", or_null(p.mean)},
              {"ci", {or_null(p.ci.low), or_null(p.ci.high)}},
              {"cases", p.cases}};
        }
        pairs += fmt::format("| {} | {} | {}", method, r->seed, cases) + row + " |\n";
      }
      // The seeds pooled: per case the method - baseline difference averaged over seeds, then
      // the bootstrap over cases.
      const size_t seeds = pooled_mine.empty() ? 0 : pooled_mine.begin()->second.size();
      if (seeds > 1) {
        std::string row;
        int64_t cases = 0;
        for (const auto& [key, label] : kMetrics) {
          const eval::PooledDifference p =
              eval::pooled_paired_difference(pooled_mine[key], pooled_theirs[key], pooled_options);
          cases = std::max(cases, p.cases);
          row += std::isnan(p.mean) ? " | -"
                                    : fmt::format(" | {:+.4f} [{:+.4f}, {:+.4f}]", p.mean,
                                                  p.ci.low, p.ci.high);
          jsplit["paired"][method]["pooled"][key] = {
              {"mean_difference", or_null(p.mean)},
              {"ci", {or_null(p.ci.low), or_null(p.ci.high)}},
              {"cases", p.cases},
              {"seeds", seeds}};
        }
        pairs += fmt::format("| {} | pooled ({} seeds) | {}", method, seeds, cases) + row + " |\n";
      }
    }
    md += fmt::format(
        "### Paired against `{}` on the same cases (n: the cases both scored): mean difference "
        "[95% bootstrap interval]\n\n",
        baseline);
    md += pairs + "\n";

    const std::string prefix = splits.size() > 1 ? split + "_" : "";
    md += "Pictures: ";
    for (const auto& [key, label] : kMetrics) {
      const std::string name = prefix + "bars_" + key + ".svg";
      write_text(dir + "/" + name,
                 bar_chart(fmt::format("{} ({}): mean over seeds, 95% t-interval", label,
                                       split),
                           bar_labels, bar_means[key], bar_cis[key]));
      md += fmt::format("[{}]({}) ", label, name);
    }
    write_text(dir + "/" + prefix + "ged_vs_samples.svg", ged_chart(bar_labels, ged_lines));
    md += fmt::format("[GED vs n]({}ged_vs_samples.svg)", prefix);
    if (!pictures.empty()) {
      write_sample_grid(dir + "/" + prefix + "samples.png", pictures, pictured);
      std::string order;
      for (const auto& method : pictured) order += (order.empty() ? "" : ", ") + method;
      md += fmt::format(" [samples]({}samples.png) (top to bottom: the first seed's samples.png "
                        "of each method with one: {})",
                        prefix, order);
    }
    md += "\n\n";
  }
  write_text(dir + "/results.md", md);
  write_text(dir + "/results.csv", csv);
  write_text(dir + "/results.json", js.dump(2) + "\n");
  return md;
}

}  // namespace psam::cli
