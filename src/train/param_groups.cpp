#include "psam/train/param_groups.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>

#include "psam/util/error.h"

namespace psam::train {
namespace {

std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t dot = name.find('.', begin);
    parts.push_back(name.substr(begin, dot - begin));
    if (dot == std::string::npos) return parts;
    begin = dot + 1;
  }
}

bool is_index(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Whether `key`'s components occur as a contiguous run in `name`'s.
bool contains_run(const std::vector<std::string>& name, const std::vector<std::string>& key) {
  if (key.size() > name.size()) return false;
  for (size_t i = 0; i + key.size() <= name.size(); ++i) {
    if (std::equal(key.begin(), key.end(), name.begin() + static_cast<std::ptrdiff_t>(i)))
      return true;
  }
  return false;
}

// The position of the "image_encoder" component, if any.
std::optional<size_t> encoder_position(const std::vector<std::string>& parts) {
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "image_encoder") return i;
  }
  return std::nullopt;
}

// The block index of a name "<...>.image_encoder.blocks.<i>.<...>", if it is one.
std::optional<int64_t> block_index(const std::vector<std::string>& parts, size_t encoder) {
  if (encoder + 2 < parts.size() && parts[encoder + 1] == "blocks" && is_index(parts[encoder + 2]))
    return std::stoll(parts[encoder + 2]);
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& parts, size_t count) {
  std::string text;
  for (size_t i = 0; i < count && i < parts.size(); ++i) text += (i ? "." : "") + parts[i];
  return text;
}

// The part a parameter belongs to in the table: in an image encoder its block or its module
// there (patch_embed, pos_embed, neck), else its first two components.
std::string part_of(const std::string& name) {
  const auto parts = components(name);
  if (const auto e = encoder_position(parts)) {
    if (block_index(parts, *e)) return joined(parts, *e + 3);
    return joined(parts, std::min(*e + 2, parts.size()));
  }
  return joined(parts, std::min<size_t>(2, parts.size() > 1 ? parts.size() - 1 : 1));
}

}  // namespace

bool decay_exempt(const std::string& name, const at::Tensor& parameter) {
  if (parameter.dim() <= 1) return true;
  const auto parts = components(name);
  const std::string& last = parts.back();
  return last == "bias" || last == "pos_embed" || last == "rel_pos_h" || last == "rel_pos_w";
}

double layer_decay_factor(const std::string& name, int64_t depth, double decay) {
  const auto parts = components(name);
  const auto e = encoder_position(parts);
  if (!e || *e + 1 >= parts.size()) return 1.0;
  int64_t layer = depth + 1;  // the neck: after the last block
  if (parts[*e + 1] == "patch_embed" || parts[*e + 1] == "pos_embed") {
    layer = 0;
  } else if (const auto i = block_index(parts, *e)) {
    layer = *i + 1;
  }
  return std::pow(decay, static_cast<double>(depth + 1 - layer));
}

std::vector<ParamOptions> resolve_param_options(const NamedParameters& parameters,
                                                const TrainConfig& config) {
  std::vector<ParamOptions> options(parameters.size());
  // Blocks per encoder (keyed by the components up to "image_encoder"), for the layer decay.
  std::map<std::string, int64_t> depth;
  for (const auto& [name, p] : parameters) {
    const auto parts = components(name);
    if (const auto e = encoder_position(parts)) {
      int64_t& d = depth[joined(parts, *e + 1)];
      if (const auto i = block_index(parts, *e)) d = std::max(d, *i + 1);
    }
  }
  std::map<std::string, bool> used;
  for (const auto& [key, mult] : config.lr_mult) used[key] = false;
  for (size_t n = 0; n < parameters.size(); ++n) {
    const auto& [name, p] = parameters[n];
    const auto parts = components(name);
    ParamOptions& o = options[n];
    // The longest matching key; two of that length would make the choice arbitrary.
    size_t best = 0;
    std::string chosen;
    bool tie = false;
    std::string tied;
    for (const auto& [key, mult] : config.lr_mult) {
      const size_t length = components(key).size();
      if (!contains_run(parts, components(key))) continue;
      used[key] = true;
      if (length == best) {
        tie = true;
        tied = key;
      } else if (length > best) {
        best = length;
        chosen = key;
        tie = false;
        o.lr_mult = mult;
      }
    }
    PSAM_CHECK(!tie, fmt::format("train.lr_mult: keys '{}' and '{}' both match '{}'; make one "
                                 "longer (more name components) to say which applies",
                                 chosen, tied, name));
    if (config.layer_decay != 1.0) {
      if (const auto e = encoder_position(parts)) {
        o.lr_mult *= layer_decay_factor(name, depth[joined(parts, *e + 1)], config.layer_decay);
      }
    }
    o.weight_decay =
        config.weight_decay_exempt && decay_exempt(name, p) ? 0.0 : config.weight_decay;
  }
  for (const auto& [key, hit] : used) {
    if (hit) continue;
    std::vector<std::string> parts;
    for (const auto& [name, p] : parameters) {
      const std::string part = joined(components(name), 2);
      if (std::find(parts.begin(), parts.end(), part) == parts.end()) parts.push_back(part);
    }
    fail(fmt::format("train.lr_mult: '{}' matches no trained parameter; the trained parts "
                     "start with: {}",
                     key, parts.empty() ? "none" : fmt::format("{}", fmt::join(parts, ", "))));
  }
  return options;
}

std::string param_groups_table(const NamedParameters& parameters,
                               const std::vector<ParamOptions>& options) {
  struct Group {
    ParamOptions o;
    int64_t tensors = 0, elements = 0;
    std::vector<std::string> parts;
  };
  std::vector<Group> groups;
  for (size_t n = 0; n < parameters.size(); ++n) {
    const ParamOptions& o = options.at(n);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.o.lr_mult == o.lr_mult && g.o.weight_decay == o.weight_decay;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{o, 0, 0, {}});
    ++it->tensors;
    it->elements += parameters[n].second.numel();
    const std::string part = part_of(parameters[n].first);
    if (std::find(it->parts.begin(), it->parts.end(), part) == it->parts.end())
      it->parts.push_back(part);
  }
  std::string text = fmt::format("{:>10} {:>12} {:>7} {:>11}  {}\n", "lr_mult", "weight_decay",
                                 "tensors", "elements", "parts");
  constexpr size_t kShown = 6;
  for (const Group& g : groups) {
    std::vector<std::string> shown(g.parts.begin(),
                                   g.parts.begin() + std::min(kShown, g.parts.size()));
    std::string parts = fmt::format("{}", fmt::join(shown, ", "));
    if (g.parts.size() > kShown) parts += fmt::format(" (+{} more)", g.parts.size() - kShown);
    text += fmt::format("{:>10.4g} {:>12.4g} {:>7} {:>11}  {}\n", g.o.lr_mult, g.o.weight_decay,
                        g.tensors, g.elements, parts);
  }
  return text;
}

}  // namespace psam::train
