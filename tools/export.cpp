// psam export: a psam checkpoint (or a run directory's best one) -> weights other tools load
// (official SAM keys, or the reference Probabilistic SAM tree), .pth or .safetensors, plus a
// model card FILE.json. Nothing appears at --out unless everything succeeded.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli.h"
#include "model_card.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "sam_json.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string input, out, format, part = "sam", model;
  int64_t decoder_heads = 8;
};

struct Source {
  std::string checkpoint, run_dir;  // run_dir empty for a bare checkpoint
};

// A run directory gives its best checkpoint (else its last); a checkpoint inside a run's
// checkpoints/ folder still belongs to that run, for the model card.
Source resolve_source(const std::string& input) {
  const fs::path path(input);
  if (fs::is_directory(path)) {
    for (const char* name : {"best.pt", "last.pt"}) {
      const auto ckpt = path / "checkpoints" / name;
      if (fs::is_regular_file(ckpt)) return {ckpt.string(), input};
    }
    fail(
        fmt::format("{}: a directory without checkpoints/best.pt or checkpoints/last.pt (expected "
                    "a psam run directory or a checkpoint file)",
                    input));
  }
  const auto run = path.parent_path().parent_path();
  const bool in_run =
      path.parent_path().filename() == "checkpoints" && fs::is_regular_file(run / "config.yaml");
  return {input, in_run ? run.string() : ""};
}

// Removes a file on scope exit unless released: the weights wait under a temporary name until
// the model card is written too.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove(path_, ignored);
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

void run_export(const ExportArgs& a, Io io) {
  const auto format = !a.format.empty()                               ? a.format
                      : fs::path(a.out).extension() == ".safetensors" ? "safetensors"
                                                                      : "pth";
  const auto source = resolve_source(a.input);
  const auto state = sam::read_model_state_dict(source.checkpoint);
  const auto sam_prefix = sam::find_sam_prefix(state, source.checkpoint);
  auto shape = model_option(a.model);
  if (!shape) {
    try {
      shape = sam::infer_sam_config(state.with_prefix_removed(sam_prefix), a.decoder_heads);
    } catch (const Error& e) {
      fail(fmt::format("{}: cannot infer the model shape: {}", source.checkpoint, e.what()));
    }
  }
  const auto tensors = a.part == "sam"
                           ? sam::official_sam_state_dict(state, *shape, source.checkpoint)
                           : sam::reference_prob_sam_state_dict(state, *shape, source.checkpoint);

  auto card = describe_run(source.run_dir);
  card["sam_config"] = sam_config_to_json(*shape);
  if (!card.contains("model")) card["model"] = card["sam_config"];
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},  // what safetensors' own torch loader expects to find
      {"psam_version", PSAM_VERSION},
      {"psam_part", a.part},
      {"config", card["model"].dump()},
      {"sam_config", card["sam_config"].dump()}};

  const auto temp = a.out + ".psam-partial";
  RemoveOnExit cleanup(temp);
  if (format == "safetensors")
    io::write_safetensors(temp, tensors, metadata);
  else
    io::write_pth(temp, tensors);
  const auto bytes = read_file(temp);
  int64_t parameters = 0;
  for (const auto& entry : tensors) parameters += entry.second.numel();

  card["psam_version"] = PSAM_VERSION;
  card["source"] = {{"checkpoint", source.checkpoint}, {"run_dir", source.run_dir}};
  card["weights"] = {{"file", fs::path(a.out).filename().string()},
                     {"format", format},
                     {"part", a.part},
                     {"tensors", tensors.size()},
                     {"parameters", parameters},
                     {"bytes", bytes.size()},
                     {"sha256", sha256_hex(bytes)}};
  if (format == "safetensors") card["weights"]["metadata"] = metadata;
  const auto card_path = a.out + ".json";
  write_file_atomic(card_path, [&](std::ostream& os) { os << card.dump(2) << "\n"; });
  std::error_code ec;
  fs::rename(temp, a.out, ec);
  if (ec) {
    fs::remove(card_path, ec);
    fail(fmt::format("{}: cannot move the exported weights into place", a.out));
  }
  cleanup.release();
  io.out << fmt::format("wrote {} ({} {}, {} tensors, {} parameters, sha256 {}) and {}\n", a.out,
                        a.part == "sam" ? "official SAM" : "Probabilistic SAM (reference names)",
                        format, tensors.size(), parameters,
                        card["weights"]["sha256"].get<std::string>(), card_path);
}

}  // namespace

void add_export_command(CLI::App& app, Io io, int& rc) {
  auto a = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand(
      "export",
      "Export a checkpoint or run directory as weights Python tools load (official SAM keys, or "
      "the reference Probabilistic SAM tree), .pth or .safetensors, with a model card FILE.json");
  sub->add_option("input", a->input,
                  "run directory (its best, else last, checkpoint) or checkpoint")
      ->required()
      ->check(CLI::ExistingPath);
  sub->add_option("--out", a->out, "output weights file; the model card is FILE.json")->required();
  sub->add_option("--format", a->format, "pth | safetensors (default: by the --out extension)")
      ->check(CLI::IsMember({"pth", "safetensors"}));
  sub->add_option("--part", a->part,
                  "sam: the flat official SAM state dict (segment_anything, MedSAM); full: the "
                  "whole Probabilistic SAM with the reference module names")
      ->check(CLI::IsMember({"sam", "full"}));
  sub->add_option("--model", a->model,
                  "vit_b | vit_l | vit_h | a model-shape JSON; default: inferred from the "
                  "checkpoint's tensor shapes");
  sub->add_option("--decoder-heads", a->decoder_heads,
                  "mask-decoder attention heads when the shape is inferred (official: 8); "
                  "recorded in the model card")
      ->check(CLI::PositiveNumber);
  sub->callback([a, io, &rc] {
    run_export(*a, io);
    rc = 0;
  });
}

}  // namespace psam::cli
