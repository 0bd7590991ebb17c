#include "info.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <ostream>

#include "cli.h"
#include "psam/io/dtype.h"
#include "psam/io/format.h"
#include "psam/io/npy.h"
#include "psam/dist/group.h"
#include "psam/models/registry.h"
#include "psam/io/pickle/pickle.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/util/attention_path.h"
#include "psam/util/build_info.h"
#include "psam/util/error.h"

namespace psam::cli {
namespace {

using nlohmann::json;

std::string python_type(const c10::IValue& v, const io::DictNotes& notes) {
  if (v.isGenericDict()) return notes.python_type(v);
  if (v.isList()) return "list";
  if (v.isTuple()) return "tuple";
  if (v.isTensor()) return "tensor";
  if (v.isString()) return "str";
  if (v.isInt()) return "int";
  if (v.isDouble()) return "float";
  if (v.isBool()) return "bool";
  if (v.isNone()) return "None";
  return v.tagKind();
}

json scalar_value(const c10::IValue& v) {
  if (v.isInt()) return v.toInt();
  if (v.isDouble()) return v.toDouble();
  if (v.isBool()) return v.toBool();
  if (v.isString()) {
    const std::string& s = v.toStringRef();
    return s.size() <= 80 ? s : s.substr(0, 77) + "...";
  }
  return nullptr;
}

// The top-level object: its type and size, and every entry that is not a tensor (an epoch, a
// config string, a nested state dict with its tensor count), so a reader sees the layout.
json describe_top_level(const c10::IValue& obj, const io::DictNotes& notes) {
  json top{{"type", python_type(obj, notes)}};
  auto entry = [&](const std::string& key, const c10::IValue& v) {
    json e{{"key", key}, {"type", python_type(v, notes)}};
    if (v.isGenericDict() || v.isList() || v.isTuple()) {
      e["tensors"] = io::flatten_tensors(v).size();
    } else {
      e["value"] = scalar_value(v);
    }
    return e;
  };
  json entries = json::array();
  if (obj.isGenericDict()) {
    top["keys"] = obj.toGenericDict().size();
    for (const auto& kv : obj.toGenericDict()) {
      if (kv.value().isTensor()) continue;
      const c10::IValue& k = kv.key();
      entries.push_back(entry(k.isString() ? k.toStringRef()
                              : k.isInt()  ? std::to_string(k.toInt())
                                           : k.tagKind(),
                              kv.value()));
    }
  } else if (obj.isList() || obj.isTuple()) {
    const auto items = obj.isList() ? obj.toListRef() : obj.toTupleRef().elements();
    top["items"] = items.size();
    for (size_t i = 0; i < items.size(); ++i)
      if (!items[i].isTensor()) entries.push_back(entry(std::to_string(i), items[i]));
  }
  top["entries"] = entries;
  return top;
}

json describe_tensor(const std::string& name, const at::Tensor& t, bool stats) {
  json j{{"name", name},
         {"shape", t.sizes().vec()},
         {"dtype", io::dtype_name(t.scalar_type())},
         {"bytes", t.numel() * static_cast<int64_t>(t.element_size())}};
  if (stats) {
    if (t.numel() == 0) {
      j["min"] = j["max"] = j["mean"] = nullptr;
    } else {
      const at::Tensor d = t.to(at::kDouble);
      j["min"] = d.min().item<double>();
      j["max"] = d.max().item<double>();
      j["mean"] = d.mean().item<double>();
    }
  }
  return j;
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string stat_text(const json& v) {
  return v.is_null() ? std::string("-") : fmt::format("{:.6g}", v.get<double>());
}

}  // namespace

json describe_file(const std::string& path, bool stats) {
  const io::FileFormat format = io::detect_format(path);
  json info{{"file", path}, {"container", io::format_name(format)}};
  io::TensorDict tensors;
  switch (format) {
    case io::FileFormat::kTorchZip:
    case io::FileFormat::kTorchLegacy: {  // read_pth explains what to do with a legacy file
      io::DictNotes notes;
      const c10::IValue obj = io::read_pth(path, &notes);
      info["top_level"] = describe_top_level(obj, notes);
      tensors = io::flatten_tensors(obj);
      break;
    }
    case io::FileFormat::kPickle: {
      io::DictNotes notes;
      io::UnpickleOptions options;
      options.allow_numpy = true;
      options.notes = &notes;
      const c10::IValue obj = io::read_pickle(path, options);
      info["top_level"] = describe_top_level(obj, notes);
      tensors = io::flatten_tensors(obj);
      break;
    }
    case io::FileFormat::kSafetensors: {
      io::Safetensors st = io::read_safetensors(path);
      info["metadata"] = st.metadata;
      tensors = std::move(st.tensors);
      break;
    }
    case io::FileFormat::kNpy:
      tensors.insert(std::filesystem::path(path).stem().string(), io::read_npy(path));
      break;
    case io::FileFormat::kUnknown:
      fail(path + ": not a torch zip archive, safetensors, npy or pickle file");
  }
  json list = json::array();
  int64_t total = 0;
  for (const auto& [name, t] : tensors) {
    list.push_back(describe_tensor(name, t, stats));
    total += list.back()["bytes"].get<int64_t>();
  }
  info["tensors"] = list;
  info["count"] = tensors.size();
  info["total_bytes"] = total;
  return info;
}

void print_info(const json& info, std::ostream& out) {
  out << info["file"].get<std::string>() << ": " << info["container"].get<std::string>() << "\n";
  if (info.contains("top_level")) {
    const json& top = info["top_level"];
    out << "top level: " << top["type"].get<std::string>();
    if (top.contains("keys")) out << ", " << top["keys"] << " keys";
    if (top.contains("items")) out << ", " << top["items"] << " items";
    out << "\n";
    for (const auto& e : top["entries"]) {
      out << "  " << e["key"].get<std::string>() << ": " << e["type"].get<std::string>();
      if (e.contains("tensors")) out << " (" << e["tensors"] << " tensors)";
      if (e.contains("value") && !e["value"].is_null()) out << " = " << e["value"].dump();
      out << "\n";
    }
  }
  if (info.contains("metadata") && !info["metadata"].empty())
    for (const auto& [k, v] : info["metadata"].items())
      out << "metadata: " << k << " = " << v.get<std::string>() << "\n";

  const json& tensors = info["tensors"];
  const bool stats = !tensors.empty() && tensors[0].contains("mean");
  size_t name_width = 4, shape_width = 5;
  std::vector<std::string> shapes;
  for (const auto& t : tensors) {
    name_width = std::max(name_width, t["name"].get<std::string>().size());
    shapes.push_back(fmt::format("[{}]", fmt::join(t["shape"].get<std::vector<int64_t>>(), ", ")));
    shape_width = std::max(shape_width, shapes.back().size());
  }
  if (!tensors.empty()) {
    out << fmt::format("{:<{}}  {:<{}}  {:<8}  {:>12}", "name", name_width, "shape", shape_width,
                       "dtype", "bytes");
    if (stats) out << fmt::format("  {:>12}  {:>12}  {:>12}", "min", "max", "mean");
    out << "\n";
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const json& t = tensors[i];
    out << fmt::format("{:<{}}  {:<{}}  {:<8}  {:>12}", t["name"].get<std::string>(), name_width,
                       shapes[i], shape_width, t["dtype"].get<std::string>(),
                       t["bytes"].get<int64_t>());
    if (stats)
      out << fmt::format("  {:>12}  {:>12}  {:>12}", stat_text(t["min"]), stat_text(t["max"]),
                         stat_text(t["mean"]));
    out << "\n";
  }
  const int64_t total = info["total_bytes"].get<int64_t>();
  out << fmt::format("{} tensors, {} bytes ({})\n", info["count"].get<int64_t>(), total,
                     human_bytes(total));
}

namespace {

void print_build_info(bool as_json, std::ostream& out) {
  const BuildInfo b = build_info();
  const auto backends = dist::available_backends();
  const auto or_none = [](const std::string& s) { return s.empty() ? std::string("none") : s; };
  std::vector<std::string> attention_paths = {name_of(AttentionPath::kExplicit)};
  if (sdpa_available()) attention_paths.emplace_back(name_of(AttentionPath::kSdpa));
  if (as_json) {
    const json j = {{"psam", b.psam},
                    {"libtorch", b.libtorch},
                    {"cuda", b.cuda ? json(b.cuda_version) : json(nullptr)},
                    {"cudnn", b.cudnn_version.empty() ? json(nullptr) : json(b.cudnn_version)},
                    {"nccl", b.nccl_version.empty() ? json(nullptr) : json(b.nccl_version)},
                    {"cuda_devices", b.cuda_devices},
                    {"distributed_backends", backends},
                    {"attention_paths", attention_paths}};
    out << j.dump(2) << "\n";
    return;
  }
  out << fmt::format("psam {}\nlibtorch {}\ncuda: {}\ncudnn: {}\nnccl: {}\ncuda devices: {}\n"
                     "distributed backends: {}\nattention paths: {} (auto: {})\n",
                     b.psam, b.libtorch, b.cuda ? b.cuda_version : "none (CPU-only libtorch)",
                     or_none(b.cudnn_version), or_none(b.nccl_version), b.cuda_devices,
                     backends.empty() ? "none" : fmt::format("{}", fmt::join(backends, ", ")),
                     fmt::join(attention_paths, ", "), attention_paths.back());
}

}  // namespace

void add_info_command(CLI::App& app, Io io, int& rc) {
  struct Options {
    std::string file;
    bool json = false;
    bool stats = false;
    bool models = false;
    bool build = false;
  };
  auto opts = std::make_shared<Options>();
  auto* sub = app.add_subcommand(
      "info",
      "Show what a checkpoint (.pth/.pt, .safetensors), .npy or pickle file holds; --models lists "
      "the methods (model.kind)");
  sub->add_option("file", opts->file, "the file to describe");
  sub->add_flag("--json", opts->json, "machine-readable JSON output");
  sub->add_flag("--stats", opts->stats, "add min / max / mean of every tensor");
  sub->add_flag("--models", opts->models, "list the registered methods and exit");
  sub->add_flag("--build", opts->build,
                "what this binary was built with (LibTorch, CUDA, cuDNN, NCCL, distributed backends) and exit");
  sub->callback([opts, io, &rc] {
    rc = 0;
    if (opts->build) {
      print_build_info(opts->json, io.out);
      return;
    }
    if (opts->models) {
      for (const auto& entry : models::registry())
        io.out << fmt::format("{:<16} {}\n", entry.kind, entry.summary);
      return;
    }
    PSAM_CHECK(!opts->file.empty(), "psam info: give a file (or --models)");
    const json info = describe_file(opts->file, opts->stats);
    if (opts->json) {
      io.out << info.dump(2) << "\n";
    } else {
      print_info(info, io.out);
    }
  });
}

}  // namespace psam::cli
