// A config struct with one field of every supported kind, for the config tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/binder.h"
#include "psam/util/names.h"

namespace psam::config::test {

enum class Mode { kFast, kSlow };
inline constexpr NameTable<Mode, 2> kModeNames = {{{Mode::kFast, "fast"}, {Mode::kSlow, "slow"}}};
constexpr const auto& enum_names(Mode) { return kModeNames; }

struct Inner {
  int depth = 2;
  std::vector<int> sizes = {1, 2};
  std::string name = "inner";
  bool operator==(const Inner& o) const {
    return depth == o.depth && sizes == o.sizes && name == o.name;
  }
};

struct Sample {
  bool flag = false;
  int count = 3;
  int64_t big = 1;
  float ratio = 0.5f;
  double lr = 1e-3;
  std::string name = "base";
  std::vector<int> ints;
  std::vector<int64_t> ids = {7};
  std::vector<float> weights = {1.0f};
  std::vector<double> scales;
  std::vector<std::string> tags = {"a"};
  std::optional<int> limit;
  std::optional<int64_t> budget = 5;
  std::optional<float> gamma;
  std::optional<double> momentum;
  std::optional<std::string> note;
  std::string attention = "math";
  Mode mode = Mode::kFast;
  Inner inner;

  bool operator==(const Sample& o) const {
    return flag == o.flag && count == o.count && big == o.big && ratio == o.ratio && lr == o.lr &&
           name == o.name && ints == o.ints && ids == o.ids && weights == o.weights &&
           scales == o.scales && tags == o.tags && limit == o.limit && budget == o.budget &&
           gamma == o.gamma && momentum == o.momentum && note == o.note &&
           attention == o.attention && mode == o.mode && inner == o.inner;
  }
};

inline void bind(Binder& b, Inner& c) {
  b.field("depth", c.depth, "how deep");
  b.field("sizes", c.sizes);
  b.field("name", c.name);
}

inline void bind(Binder& b, Sample& c) {
  b.field("flag", c.flag, "a switch");
  b.field("count", c.count);
  b.field("big", c.big);
  b.field("ratio", c.ratio);
  b.field("lr", c.lr, "learning rate");
  b.field("name", c.name);
  b.field("ints", c.ints);
  b.field("ids", c.ids);
  b.field("weights", c.weights);
  b.field("scales", c.scales);
  b.field("tags", c.tags);
  b.field("limit", c.limit);
  b.field("budget", c.budget);
  b.field("gamma", c.gamma);
  b.field("momentum", c.momentum);
  b.field("note", c.note);
  b.choice("attention", c.attention, {"math", "sdpa"}, "attention kernel");
  b.choice("mode", c.mode);
  b.section("inner", c.inner, "a nested section");
}

}  // namespace psam::config::test
