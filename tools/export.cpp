// psam export: a psam checkpoint (or a run directory's best one) -> weights other tools load
// (official SAM keys, the reference Probabilistic SAM tree, or any method under psam's names),
// .pth or .safetensors, plus a model card FILE.json that carries the model config. Nothing
// appears at --out unless everything succeeded.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "cli.h"
#include "cli_checks.h"
#include "model_card.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/io/state_dict.h"
#include "psam/models/load.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/hash.h"
#include "psam/sam/config_json.h"

namespace psam::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string input, out, format, part, model;
  std::optional<int64_t> decoder_heads;
  std::optional<std::string> latent_net;
  std::optional<int64_t> latent_input_size;
  bool ema = false;  // --weights ema
};

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

// The layouts `model` exports: psam's own (any method) and the method's parts.
std::vector<models::ExportPart> parts_of(const models::Model& model) {
  std::vector<models::ExportPart> parts = {
      {"psam", "the model's state dict under psam's names; the card carries its config",
       /*whole_method=*/true}};
  for (auto& part : model.export_parts()) parts.push_back(std::move(part));
  return parts;
}

void run_export(const ExportArgs& a, Io io) {
  const auto format = !a.format.empty()                               ? a.format
                      : fs::path(a.out).extension() == ".safetensors" ? "safetensors"
                                                                      : "pth";
  models::ModelFlags flags;
  flags.sam = sam::config_by_name_or_file(a.model);
  flags.decoder_num_heads = a.decoder_heads;
  if (a.latent_net) flags.latent_net = value_of<prob::LatentNetKind>(*a.latent_net, "--latent-net");
  flags.latent_input_size = a.latent_input_size;
  flags.ema = a.ema;
  const models::LoadedModel loaded =
      models::load_model(a.input, flags, std::nullopt, c10::Device(c10::kCPU));
  models::Model& model = *loaded.model;
  const auto parts = parts_of(model);
  // Default: the whole method, as psam trained and evaluated it: the method's own first layout
  // that holds all of it (official SAM for SAM, the reference tree for a Probabilistic SAM), else
  // psam's names.
  std::string part = a.part;
  for (size_t i = 1; i < parts.size() && part.empty(); ++i)
    if (parts[i].whole_method) part = parts[i].name;
  if (part.empty()) part = "psam";
  std::string known;
  const models::ExportPart* chosen = nullptr;
  for (const auto& p : parts) {
    if (p.name == part) chosen = &p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  PSAM_CHECK(chosen != nullptr, fmt::format("--part {}: {} ({}) exports {}", part,
                                            loaded.source.checkpoint, model.kind(), known));
  const io::TensorDict tensors =
      part == "psam" ? io::state_dict(model.module()) : model.export_state(part);

  auto card = describe_run(loaded.source.run_dir);
  // The run's metrics belong on the card only of a file that reproduces them.
  if (!chosen->whole_method && card.contains("eval")) {
    card.erase("eval");
    card["eval_omitted"] = fmt::format(
        "part {} holds only some of the {} model's weights; its evaluation does not apply", part,
        model.kind());
  }
  const auto model_config = nlohmann::json::parse(models::model_config_json(model.config()));
  card["model_config"] = model_config;
  if (loaded.preprocessing) card["preprocessing"] = nlohmann::json::parse(*loaded.preprocessing);
  card["sam_config"] = sam::sam_config_to_json(model.config().prob.sam);
  if (!card.contains("model")) card["model"] = card["sam_config"];
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},  // what safetensors' own torch loader expects to find
      {"psam_version", PSAM_VERSION},
      {"psam_part", part},
      {"psam_model_config", model_config.dump()},
      {"config", card["model"].dump()},
      {"sam_config", card["sam_config"].dump()}};
  if (loaded.preprocessing) metadata["psam_preprocessing"] = *loaded.preprocessing;

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
  card["source"] = {{"checkpoint", loaded.source.checkpoint},
                    {"run_dir", loaded.source.run_dir}};
  card["weights"] = {{"file", fs::path(a.out).filename().string()},
                     {"format", format},
                     {"part", part},
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
                        part == "sam"    ? "official SAM"
                        : part == "full" ? "Probabilistic SAM (reference names)"
                        : part == "psam" ? model.kind() + " (psam names)"
                                         : model.kind() + " part " + part,
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
                  "default: the whole model, in the method's own layout where it has one (sam "
                  "for SAM, full for a Probabilistic SAM), else psam. sam: the flat official SAM "
                  "state dict (segment_anything, MedSAM; of a latent model, SAM alone); full: the "
                  "whole Probabilistic SAM with the reference module names; psam: the model "
                  "under psam's names (any method; also re-saves an old checkpoint with its "
                  "config); other methods list theirs in the error for an unknown part");
  sub->add_option("--model", a->model,
                  "for files that store no model config: vit_b | vit_l | vit_h | a model-shape "
                  "JSON; default: inferred from the tensor shapes");
  sub->add_option("--decoder-heads", a->decoder_heads,
                  "mask-decoder attention heads when the shape is inferred (official: 8); "
                  "recorded in the model card")
      ->check(positive());
  add_latent_shape_options(sub, a->latent_net, a->latent_input_size);
  add_weights_option(sub, a->ema);
  sub->callback([a, io, &rc] {
    run_export(*a, io);
    rc = 0;
  });
}

}  // namespace psam::cli
