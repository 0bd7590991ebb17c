#include "psam/data/synthetic/synthetic.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "psam/util/error.h"
#include "psam/util/log.h"
#include "data/rng.h"

namespace psam::data {
namespace {

// Independent random streams per purpose, so e.g. adding an annotator never changes an image.
enum SynthStream : uint64_t {
  kPatientStream = 1,
  kImageStream = 2,
  kReaderStream = 3,
  kMarkedStream = 4,
  kOracleMarkedStream = 5,
};

// Equivocal lesions are drawn with this share of their contrast: the image shows why readers
// disagree on whether to mark them.
constexpr double kEquivocalContrast = 0.55;

constexpr int64_t kChunk = 128;  // samples generated in parallel and appended at once

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// A float image, row-major.
struct Field {
  Field(int64_t rows, int64_t cols, float value = 0) : h(rows), w(cols), v(rows * cols, value) {}
  float& at(int64_t y, int64_t x) { return v[y * w + x]; }
  int64_t h, w;
  std::vector<float> v;
};

struct Point {
  double x, y;
};

double segment_distance(Point p, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2 : 0;
  t = std::clamp(t, 0.0, 1.0);
  return std::hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// Raises `layer` to amp * logistic((radius - d) / soft) around segment ab (d: distance to it).
// Only the segment's neighbourhood is visited; beyond 8 soft widths the profile is < 4e-4.
void draw_capsule(Field& layer, Point a, Point b, double radius, double soft, double amp) {
  const double reach = radius + 8 * soft;
  const int64_t x0 = std::max<int64_t>(0, std::floor(std::min(a.x, b.x) - reach));
  const int64_t x1 = std::min<int64_t>(layer.w - 1, std::ceil(std::max(a.x, b.x) + reach));
  const int64_t y0 = std::max<int64_t>(0, std::floor(std::min(a.y, b.y) - reach));
  const int64_t y1 = std::min<int64_t>(layer.h - 1, std::ceil(std::max(a.y, b.y) + reach));
  for (int64_t y = y0; y <= y1; ++y) {
    for (int64_t x = x0; x <= x1; ++x) {
      const double d = segment_distance({x + 0.0, y + 0.0}, a, b);
      const float value = static_cast<float>(amp * logistic((radius - d) / soft));
      layer.at(y, x) = std::max(layer.at(y, x), value);
    }
  }
}

// Smooth random texture: normal values on a lattice of square cells (`cells` along the longer
// side, plus 2), smoothstep-interpolated.
void add_value_noise(Field& f, int64_t cells, double amp, Rng& rng) {
  const int64_t side = std::max(f.h, f.w);
  const auto cells_along = [&](int64_t extent) { return (cells * extent + side - 1) / side; };
  const int64_t g = cells_along(f.w) + 2;
  std::vector<double> lattice((cells_along(f.h) + 2) * g);
  for (double& v : lattice) v = rng.normal();
  const double step = static_cast<double>(cells) / static_cast<double>(side);
  for (int64_t y = 0; y < f.h; ++y) {
    const double gy = (y + 0.5) * step;
    const int64_t iy = static_cast<int64_t>(gy);
    double ty = gy - iy;
    ty = ty * ty * (3 - 2 * ty);
    for (int64_t x = 0; x < f.w; ++x) {
      const double gx = (x + 0.5) * step;
      const int64_t ix = static_cast<int64_t>(gx);
      double tx = gx - ix;
      tx = tx * tx * (3 - 2 * tx);
      const double top = lattice[iy * g + ix] * (1 - tx) + lattice[iy * g + ix + 1] * tx;
      const double bottom =
          lattice[(iy + 1) * g + ix] * (1 - tx) + lattice[(iy + 1) * g + ix + 1] * tx;
      f.at(y, x) += static_cast<float>(amp * (top * (1 - ty) + bottom * ty));
    }
  }
}

// A curved, tapering vessel (quadratic Bezier) into `layer` (HU contrast over the lung), with
// at most one level of branching. Thin vessels are fainter (partial volume).
void draw_vessel(Field& layer, Point start, double angle, double length, double radius,
                 double contrast, Rng& rng, bool may_branch) {
  const Point end{start.x + length * std::cos(angle), start.y + length * std::sin(angle)};
  const double bend = rng.uniform(-0.3, 0.3) * length;
  const Point control{(start.x + end.x) / 2 - bend * std::sin(angle),
                      (start.y + end.y) / 2 + bend * std::cos(angle)};
  auto curve = [&](double t) {
    const double u = 1 - t;
    return Point{u * u * start.x + 2 * u * t * control.x + t * t * end.x,
                 u * u * start.y + 2 * u * t * control.y + t * t * end.y};
  };
  constexpr int kSegments = 16;
  for (int i = 0; i < kSegments; ++i) {
    const double t0 = static_cast<double>(i) / kSegments, t1 = (i + 1.0) / kSegments;
    const double r = radius * (1 - 0.4 * (t0 + t1) / 2);
    draw_capsule(layer, curve(t0), curve(t1), r, 0.5, contrast * std::min(1.0, r / 1.5));
  }
  if (may_branch && rng.bernoulli(0.4)) {
    const double t = rng.uniform(0.2, 0.8);
    const double turn = rng.uniform(0.3, 0.9) * (rng.bernoulli(0.5) ? 1 : -1);
    draw_vessel(layer, curve(t), angle + turn, length * rng.uniform(0.3, 0.6), radius * 0.6,
                contrast, rng, false);
  }
}

// Soft tissue of the chest wall along one side of the patch (0 top, 1 left, 2 bottom, 3 right),
// with an undulating boundary.
void draw_wall(Field& hu, Rng& rng) {
  const int side = static_cast<int>(rng.below(4));
  // Extents across the wall (depth) and along it.
  const int64_t across = side % 2 == 0 ? hu.h : hu.w, length = side % 2 == 0 ? hu.w : hu.h;
  const double depth = rng.uniform(0.05, 0.22) * across;
  const double wave = rng.uniform(0.0, 0.04) * across, freq = rng.uniform(0.5, 2.0),
               phase = rng.uniform(0, 2 * M_PI);
  const double tissue_hu = rng.uniform(20, 60);
  for (int64_t y = 0; y < hu.h; ++y) {
    for (int64_t x = 0; x < hu.w; ++x) {
      const int64_t along = side % 2 == 0 ? x : y;
      const int64_t inward = side == 0   ? y
                             : side == 1 ? x
                             : side == 2 ? hu.h - 1 - y
                                         : hu.w - 1 - x;
      const double boundary = depth + wave * std::sin(2 * M_PI * freq * along / length + phase);
      const double w = logistic((boundary - inward) / 0.8);
      hu.at(y, x) = static_cast<float>(hu.at(y, x) * (1 - w) + tissue_hu * w);
    }
  }
}

struct Nodule {
  Point center;
  double radius = 0, edge = 0;
  double amp[4] = {}, phase[4] = {};  // harmonics 2..5 of the outline
  bool solid = true, attached = false, equivocal = false;
  double hu = 0, attached_hu = 0;
  Point stub0{}, stub1{};
  double stub_radius = 0;

  double outline(double theta) const {
    double r = 1;
    for (int k = 0; k < 4; ++k) r += amp[k] * std::cos((k + 2) * theta + phase[k]);
    return radius * std::max(0.3, r);
  }
};

Nodule draw_nodule_geometry(const SynthOptions& o, Rng& rng) {
  const double h = static_cast<double>(o.rows()), w = static_cast<double>(o.cols());
  Nodule n;
  n.center = {w / 2 + rng.uniform(-w / 16, w / 16), h / 2 + rng.uniform(-h / 16, h / 16)};
  // Log-uniform: small nodules are the common ones, as in LIDC.
  n.radius = std::exp(rng.uniform(std::log(o.radius_min), std::log(o.radius_max)));
  for (int k = 0; k < 4; ++k) {
    n.amp[k] = o.irregularity * rng.uniform(-1, 1) * 2.0 / (k + 2);
    n.phase[k] = rng.uniform(0, 2 * M_PI);
  }
  n.edge = rng.uniform(o.edge_min, o.edge_max);
  n.solid = !rng.bernoulli(o.subsolid_share);
  n.hu = n.solid ? rng.uniform(-60, 60) : rng.uniform(-650, -350);
  n.equivocal = rng.bernoulli(o.equivocal_share);
  n.attached = rng.bernoulli(o.attached_prob);
  n.attached_hu = rng.uniform(-80, 40);
  const double alpha = rng.uniform(0, 2 * M_PI);
  const double r_alpha = n.outline(alpha);
  const Point u{std::cos(alpha), std::sin(alpha)};
  const double length = rng.uniform(0.6, 1.4) * n.radius + 2;
  n.stub0 = {n.center.x + 0.5 * r_alpha * u.x, n.center.y + 0.5 * r_alpha * u.y};
  n.stub1 = {n.center.x + (r_alpha + length) * u.x, n.center.y + (r_alpha + length) * u.y};
  n.stub_radius = std::max(1.0, rng.uniform(0.3, 0.5) * n.radius);
  return n;
}

// Polar coordinates around the nodule centre over the box where its membership is non-zero,
// with the outline radius and cos/sin of the first three harmonics (for reader wobble).
struct Polar {
  int64_t x0 = 0, x1 = -1, y0 = 0, y1 = -1, width = 0;
  std::vector<double> rho, outline, harmonic[6];  // harmonic: cos t, sin t, cos 2t, ...

  Polar(const Nodule& n, int64_t h, int64_t w) {
    const double reach = n.radius * 1.6 + 8 * n.edge;
    x0 = std::max<int64_t>(0, std::floor(n.center.x - reach));
    x1 = std::min<int64_t>(w - 1, std::ceil(n.center.x + reach));
    y0 = std::max<int64_t>(0, std::floor(n.center.y - reach));
    y1 = std::min<int64_t>(h - 1, std::ceil(n.center.y + reach));
    width = std::max<int64_t>(0, x1 - x0 + 1);
    const int64_t size = width * std::max<int64_t>(0, y1 - y0 + 1);
    rho.resize(size);
    outline.resize(size);
    for (auto& h : harmonic) h.resize(size);
    for (int64_t y = y0; y <= y1; ++y) {
      for (int64_t x = x0; x <= x1; ++x) {
        const int64_t q = (y - y0) * width + (x - x0);
        const double dx = x - n.center.x, dy = y - n.center.y;
        const double theta = std::atan2(dy, dx);
        rho[q] = std::hypot(dx, dy);
        outline[q] = n.outline(theta);
        for (int j = 0; j < 3; ++j) {
          harmonic[2 * j][q] = std::cos((j + 1) * theta);
          harmonic[2 * j + 1][q] = std::sin((j + 1) * theta);
        }
      }
    }
  }
};

Field nodule_membership(const Nodule& n, const Polar& polar, int64_t h, int64_t w) {
  Field m(h, w);
  for (int64_t y = polar.y0; y <= polar.y1; ++y)
    for (int64_t x = polar.x0; x <= polar.x1; ++x) {
      const int64_t q = (y - polar.y0) * polar.width + (x - polar.x0);
      m.at(y, x) = static_cast<float>(logistic((polar.outline[q] - polar.rho[q]) / n.edge));
    }
  return m;
}

// One annotator's choices for a sample (their own random stream).
struct Reader {
  double level = 0;
  bool include = false;
  double wobble[6] = {};  // coefficients of cos/sin of harmonics 1..3, in px

  Reader(const SynthOptions& o, bool attached, Rng& rng) {
    level = rng.uniform(o.level_min, o.level_max);
    include = attached && rng.bernoulli(o.include_attached_prob);
    for (int j = 0; j < 3; ++j) {
      const double amp = o.reader_wobble * rng.normal() / (j + 1), phase = rng.uniform(0, 2 * M_PI);
      wobble[2 * j] = amp * std::cos(phase);
      wobble[2 * j + 1] = -amp * std::sin(phase);
    }
  }

  // mask (h*w bytes, zeroed): own outline (membership > level), plus the attached structure.
  void draw(const Nodule& n, const Polar& polar, const Field& attached, uint8_t* mask) const {
    const int64_t w = attached.w;
    if (include)
      for (size_t p = 0; p < attached.v.size(); ++p) mask[p] = attached.v[p] > level;
    for (int64_t y = polar.y0; y <= polar.y1; ++y)
      for (int64_t x = polar.x0; x <= polar.x1; ++x) {
        const int64_t q = (y - polar.y0) * polar.width + (x - polar.x0);
        double radius = polar.outline[q];
        for (int h = 0; h < 6; ++h) radius += wobble[h] * polar.harmonic[h][q];
        // Rounded as the membership field is, so zero wobble reproduces it exactly.
        if (static_cast<float>(logistic((radius - polar.rho[q]) / n.edge)) > level)
          mask[y * w + x] = 1;
      }
  }
};

// Which of `count` annotators mark the lesion: independent, each with 1 - p_empty, redrawn
// while none does when `require_one`.
std::vector<bool> marked_flags(int64_t count, double p_empty, bool require_one, Rng& rng) {
  std::vector<bool> marked(count);
  for (;;) {
    bool any = false;
    for (int64_t k = 0; k < count; ++k) {
      marked[k] = !rng.bernoulli(p_empty);
      any = any || marked[k];
    }
    if (any || !require_one) return marked;
  }
}

// Correlated CT noise: white noise through a 3x3 binomial blur, rescaled to std sigma.
void add_noise(Field& hu, double sigma, Rng& rng) {
  const int64_t h = hu.h, w = hu.w;
  Field white(h, w);
  for (float& v : white.v) v = static_cast<float>(rng.normal());
  constexpr double kGain = 1.0 / 0.375;  // the blur's std reduction: sqrt(sum w^2) = 6/16
  const double tap[3] = {0.25, 0.5, 0.25};
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int dy = -1; dy <= 1; ++dy) {
        const int64_t yy = std::clamp<int64_t>(y + dy, 0, h - 1);
        for (int dx = -1; dx <= 1; ++dx) {
          const int64_t xx = std::clamp<int64_t>(x + dx, 0, w - 1);
          acc += tap[dy + 1] * tap[dx + 1] * white.at(yy, xx);
        }
      }
      hu.at(y, x) += static_cast<float>(sigma * kGain * acc);
    }
  }
}

at::Tensor to_tensor(const Field& f) {
  return torch::from_blob(const_cast<float*>(f.v.data()), {f.h, f.w}, torch::kFloat).clone();
}

nlohmann::json options_json(const SynthOptions& o) {
  nlohmann::json j = {{"count", o.count},
                      {"seed", o.seed},
                      {"annotators", o.annotators},
                      {"oracle_draws", o.oracle_draws},
                      {"samples_per_patient", o.samples_per_patient},
                      {"radius_min", o.radius_min},
                      {"radius_max", o.radius_max},
                      {"irregularity", o.irregularity},
                      {"edge_min", o.edge_min},
                      {"edge_max", o.edge_max},
                      {"subsolid_share", o.subsolid_share},
                      {"attached_prob", o.attached_prob},
                      {"equivocal_share", o.equivocal_share},
                      {"empty_prob_clear", o.empty_prob_clear},
                      {"empty_prob_equivocal", o.empty_prob_equivocal},
                      {"require_marked", o.require_marked},
                      {"level_min", o.level_min},
                      {"level_max", o.level_max},
                      {"reader_wobble", o.reader_wobble},
                      {"include_attached_prob", o.include_attached_prob}};
  // Square stores record their side as before; others their two extents.
  if (o.rows() == o.cols()) {
    j["size"] = o.rows();
  } else {
    j["height"] = o.rows();
    j["width"] = o.cols();
  }
  return j;
}

nlohmann::json stats_json(const AnnotatorStats& s) {
  return {{"samples", s.samples},
          {"annotators", s.annotators},
          {"empty_share", s.empty_share},
          {"all_empty_share", s.all_empty_share},
          {"pairwise_iou_marked", s.pairwise_iou_marked},
          {"pairwise_iou_all", s.pairwise_iou_all},
          {"mean_marked_area", s.mean_marked_area}};
}

}  // namespace

void validate(const SynthOptions& o) {
  auto in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  PSAM_CHECK(o.count > 0, fmt::format("synthetic: count must be > 0, got {}", o.count));
  PSAM_CHECK(o.size >= 16, fmt::format("synthetic: size must be >= 16, got {}", o.size));
  PSAM_CHECK(o.height == 0 || o.height >= 16,
             fmt::format("synthetic: height must be >= 16 (or 0 = size), got {}", o.height));
  PSAM_CHECK(o.width == 0 || o.width >= 16,
             fmt::format("synthetic: width must be >= 16 (or 0 = size), got {}", o.width));
  PSAM_CHECK(o.annotators >= 1, "synthetic: annotators must be >= 1");
  PSAM_CHECK(o.oracle_draws >= 0, "synthetic: oracle draws must be >= 0");
  PSAM_CHECK(o.samples_per_patient >= 1, "synthetic: samples per patient must be >= 1");
  PSAM_CHECK(o.radius_min > 0 && o.radius_min <= o.radius_max,
             fmt::format("synthetic: need 0 < radius_min <= radius_max, got {} and {}",
                         o.radius_min, o.radius_max));
  PSAM_CHECK(in(o.irregularity, 0, 0.5),
             fmt::format("synthetic: irregularity must be in [0, 0.5], got {}", o.irregularity));
  PSAM_CHECK(o.edge_min > 0 && o.edge_min <= o.edge_max,
             fmt::format("synthetic: need 0 < edge_min <= edge_max, got {} and {}", o.edge_min,
                         o.edge_max));
  PSAM_CHECK(in(o.level_min, 0.01, 0.99) && in(o.level_max, o.level_min, 0.99),
             fmt::format("synthetic: need 0.01 <= level_min <= level_max <= 0.99, got {} and {}",
                         o.level_min, o.level_max));
  for (const auto& [name, v] : {std::pair{"subsolid_share", o.subsolid_share},
                                {"attached_prob", o.attached_prob},
                                {"include_attached_prob", o.include_attached_prob},
                                {"equivocal_share", o.equivocal_share}})
    PSAM_CHECK(in(v, 0, 1), fmt::format("synthetic: {} must be in [0, 1], got {}", name, v));
  // Conditioning on "someone marks it" needs a chance that someone does.
  const double empty_max = o.require_marked ? 0.99 : 1.0;
  for (const auto& [name, v] : {std::pair{"empty_prob_clear", o.empty_prob_clear},
                                {"empty_prob_equivocal", o.empty_prob_equivocal}})
    PSAM_CHECK(in(v, 0, empty_max),
               fmt::format("synthetic: {} must be in [0, {}], got {}", name, empty_max, v));
  PSAM_CHECK(in(o.reader_wobble, 0, 5),
             fmt::format("synthetic: reader_wobble must be in [0, 5] px, got {}", o.reader_wobble));
}

SynthSample synth_sample(const SynthOptions& o, int64_t index) {
  const int64_t h = o.rows(), w = o.cols(), side = std::max(h, w);
  const int64_t patient = index / o.samples_per_patient;
  Rng patient_rng({o.seed, kPatientStream, static_cast<uint64_t>(patient)});
  const double lung_hu = patient_rng.uniform(-880, -800);
  const double noise_hu = patient_rng.uniform(15, 45);
  const double texture_hu = patient_rng.uniform(15, 45);

  Rng rng({o.seed, kImageStream, static_cast<uint64_t>(index)});
  const Nodule n = draw_nodule_geometry(o, rng);

  Field hu(h, w, static_cast<float>(lung_hu));
  add_value_noise(hu, 5, texture_hu, rng);
  add_value_noise(hu, 14, texture_hu * 0.5, rng);

  Field vessels(h, w);
  const int64_t vessel_count = 2 + rng.below(5);
  for (int64_t v = 0; v < vessel_count; ++v) {
    const Point start{rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h};
    draw_vessel(vessels, start, rng.uniform(0, 2 * M_PI), rng.uniform(0.4, 1.2) * side,
                rng.uniform(0.6, 2.2), rng.uniform(-50, 40) - lung_hu, rng, true);
  }
  Field attached(h, w);
  if (n.attached) {
    draw_capsule(attached, n.stub0, n.stub1, n.stub_radius, n.edge, 1.0);
    // The vessel the stub belongs to runs on, thinner, beyond what any annotator would include.
    const double angle = std::atan2(n.stub1.y - n.stub0.y, n.stub1.x - n.stub0.x);
    draw_vessel(vessels, n.stub1, angle + rng.uniform(-0.3, 0.3), rng.uniform(0.3, 0.6) * side,
                std::min(1.2, 0.5 * n.stub_radius), n.attached_hu - lung_hu, rng, false);
  }
  for (int64_t p = 0; p < h * w; ++p) hu.v[p] += vessels.v[p];
  if (rng.bernoulli(0.25)) draw_wall(hu, rng);

  const Polar polar(n, h, w);
  const Field nodule = nodule_membership(n, polar, h, w);
  const double contrast = n.equivocal ? kEquivocalContrast : 1.0;
  for (int64_t p = 0; p < h * w; ++p) {
    const double mn = contrast * nodule.v[p], ma = contrast * attached.v[p] * (1 - nodule.v[p]);
    hu.v[p] = static_cast<float>(hu.v[p] * (1 - mn - ma) + n.hu * mn + n.attached_hu * ma);
  }
  add_noise(hu, noise_hu, rng);
  for (float& v : hu.v) v = std::clamp(v, -1024.0f, 3071.0f);

  SynthSample out;
  out.image = to_tensor(hu);
  out.nodule = to_tensor(nodule);
  out.attached = to_tensor(attached);
  const int64_t draws = o.annotators + o.oracle_draws;
  const double p_empty = n.equivocal ? o.empty_prob_equivocal : o.empty_prob_clear;
  Rng marked_rng({o.seed, kMarkedStream, static_cast<uint64_t>(index)});
  std::vector<bool> marked = marked_flags(o.annotators, p_empty, o.require_marked, marked_rng);
  for (int64_t m = 0; m < o.oracle_draws; ++m) {
    // One annotator's marginal: the first of a fresh conditioned K-tuple.
    Rng oracle_rng(
        {o.seed, kOracleMarkedStream, static_cast<uint64_t>(index), static_cast<uint64_t>(m)});
    marked.push_back(marked_flags(o.annotators, p_empty, o.require_marked, oracle_rng)[0]);
  }
  at::Tensor all = torch::zeros({draws, h, w}, torch::kByte);
  nlohmann::json levels = nlohmann::json::array(), includes = nlohmann::json::array(),
                 marks = nlohmann::json::array();
  for (int64_t j = 0; j < draws; ++j) {
    Rng reader_rng({o.seed, kReaderStream, static_cast<uint64_t>(index), static_cast<uint64_t>(j)});
    const Reader reader(o, n.attached, reader_rng);
    if (j < o.annotators) {
      levels.push_back(reader.level);
      includes.push_back(reader.include);
      marks.push_back(static_cast<bool>(marked[j]));
    }
    if (marked[j]) reader.draw(n, polar, attached, all[j].data_ptr<uint8_t>());
  }
  out.masks = all.slice(0, 0, o.annotators);
  if (o.oracle_draws > 0) out.oracle = all.slice(0, o.annotators);

  out.meta.id = fmt::format("synth-{:06d}", index);
  out.meta.patient_id = fmt::format("synth-p{:05d}", patient);
  out.meta.z = static_cast<double>(index % o.samples_per_patient);
  out.meta.extra_json = nlohmann::json{{"radius_px", n.radius},
                                       {"edge_px", n.edge},
                                       {"center_xy", {n.center.x, n.center.y}},
                                       {"solid", n.solid},
                                       {"nodule_hu", n.hu},
                                       {"attached", n.attached},
                                       {"equivocal", n.equivocal},
                                       {"reader_level", levels},
                                       {"reader_includes_attached", includes},
                                       {"reader_marked", marks}}
                            .dump();
  return out;
}

AnnotatorStats generate_synthetic(const std::string& out_dir, const SynthOptions& o,
                                  const SplitOptions& split, bool overwrite) {
  validate(o);
  DatasetInfo info;
  info.name = "synthetic";
  info.count = o.count;
  info.annotators = o.annotators;
  info.height = o.rows();
  info.width = o.cols();
  info.channels = 1;
  info.image_dtype = at::kFloat;
  info.intensity = Intensity::kHu;
  DatasetWriter writer(out_dir, info, o.oracle_draws, overwrite);

  AnnotatorStatsAccumulator stats;
  // Chunk buffers are reused: fresh large allocations cost a page fault per 4 KiB.
  const int64_t h = o.rows(), w = o.cols();
  const at::Tensor image_buffer = torch::empty({kChunk, h, w}, torch::kFloat);
  const at::Tensor mask_buffer = torch::empty({kChunk, o.annotators, h, w}, torch::kByte);
  at::Tensor oracle_buffer;
  if (o.oracle_draws > 0)
    oracle_buffer = torch::empty({kChunk, o.oracle_draws, h, w}, torch::kByte);
  for (int64_t start = 0; start < o.count; start += kChunk) {
    const int64_t c = std::min(kChunk, o.count - start);
    const at::Tensor images = image_buffer.slice(0, 0, c);
    const at::Tensor masks = mask_buffer.slice(0, 0, c);
    const at::Tensor oracle = oracle_buffer.defined() ? oracle_buffer.slice(0, 0, c) : at::Tensor();
    std::vector<SampleMeta> meta(c);
    at::parallel_for(0, c, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        SynthSample sample = synth_sample(o, start + i);
        images[i].copy_(sample.image);
        masks[i].copy_(sample.masks);
        if (oracle.defined()) oracle[i].copy_(sample.oracle);
        meta[i] = std::move(sample.meta);
      }
    });
    stats.add(masks);
    writer.add_batch(images, masks, meta, oracle);
  }
  const AnnotatorStats result = stats.result();
  writer.set_provenance(nlohmann::json{
      {"generator", "psam synthetic nodules"},
      {"options", options_json(o)},
      {"statistics",
       stats_json(result)}}.dump());
  writer.commit(make_splits(writer.meta(), split));
  return result;
}

}  // namespace psam::data
