#include "psam/models/load.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/sam_common.h"
#include "psam/io/format.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/io/state_dict.h"
#include "psam/models/registry.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/export.h"
#include "psam/sam/resize_positions.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "psam/util/log.h"

namespace psam::models {
namespace {

namespace fs = std::filesystem;

// The string entry `key` of a checkpoint dict, if present.
std::optional<std::string> string_entry(const c10::impl::GenericDict& dict, const char* key,
                                        const std::string& path) {
  const auto it = dict.find(key);
  if (it == dict.end()) return std::nullopt;
  PSAM_CHECK(it->value().isString(),
             fmt::format("{}: checkpoint entry '{}' should be a string", path, key));
  return it->value().toStringRef();
}

// What the model card beside a .pth export (FILE.json) says, if there is one with a config.
void read_card(ModelFile& file) {
  const std::string card_path = file.path + ".json";
  std::error_code ec;
  if (!fs::is_regular_file(card_path, ec)) return;
  nlohmann::json card;
  try {
    card = nlohmann::json::parse(read_file(card_path));
  } catch (const nlohmann::json::exception& e) {
    fail(fmt::format("{}: not valid JSON ({})", card_path, e.what()));
  }
  if (!card.is_object() || !card.contains("model_config")) return;
  file.config = model_config_from_json(card["model_config"].dump(), card_path);
  if (card.contains("preprocessing")) file.preprocessing = card["preprocessing"].dump();
  if (card.contains("weights") && card["weights"].contains("part"))
    file.part = card["weights"]["part"].get<std::string>();
}

void check_flag(std::vector<std::string>& errors, const char* flag, const std::string& given,
                const char* key, const std::string& stored) {
  if (given != stored)
    errors.push_back(fmt::format("{} {} contradicts {} {}", flag, given, key, stored));
}

}  // namespace

void check_model_flags(const ModelFlags& flags, const ModelConfig& stored,
                       const std::string& path) {
  std::vector<std::string> errors;
  if (flags.latent_net) {
    check_flag(errors, "--latent-net", to_string(*flags.latent_net), "model.latent_net",
               to_string(stored.prob.latent_net));
  }
  if (flags.latent_input_size) {
    check_flag(errors, "--latent-input-size", std::to_string(*flags.latent_input_size),
               "model.latent_input_size", std::to_string(stored.prob.latent_input_size));
  }
  if (flags.decoder_num_heads) {
    check_flag(errors, "--decoder-heads", std::to_string(*flags.decoder_num_heads),
               "model.sam.decoder_num_heads", std::to_string(stored.prob.sam.decoder_num_heads));
  }
  if (flags.sam && *flags.sam != stored.prob.sam) {
    ModelConfig given = stored;
    given.prob.sam = *flags.sam;
    std::string what;
    for (const auto& d : model_config_differences(stored, given))
      what += (what.empty() ? "" : "; ") + d;
    errors.push_back("--model contradicts model.sam (stored -> flag: " + what + ")");
  }
  if (errors.empty()) return;
  std::string text;
  for (const auto& e : errors) text += (text.empty() ? "" : "; ") + e;
  fail(fmt::format("{}: {} stored in the file (drop the flag: the file says what it holds)",
                   path, text));
}

namespace {

// The model section of a file without a stored one: the fallback, or read off the tensors
// (the SAM shape, and for a Probabilistic SAM layout the latent net kind, L and the projector
// width), with the flags on top.
ModelConfig inferred_config(const ModelFile& file, const ModelFlags& flags,
                            const std::optional<ModelConfig>& fallback) {
  ModelConfig c = fallback ? *fallback : ModelConfig{};
  c.init_from.clear();
  if (flags.latent_input_size) c.prob.latent_input_size = *flags.latent_input_size;
  if (flags.sam) c.prob.sam = *flags.sam;
  if (flags.decoder_num_heads) c.prob.sam.decoder_num_heads = *flags.decoder_num_heads;
  if (flags.latent_net) c.prob.latent_net = *flags.latent_net;
  if (fallback) return c;

  const auto sam_prefix = sam::find_sam_prefix(file.state, file.path);
  if (!flags.sam) {
    try {
      c.prob.sam = sam::infer_sam_config(file.state.with_prefix_removed(sam_prefix),
                                         flags.decoder_num_heads.value_or(8));
    } catch (const Error& e) {
      fail(fmt::format("{}: cannot infer the model shape: {}", file.path, e.what()));
    }
  }
  const auto prob_state = sam::prob_sam_state(file.state, file.path);
  if (!prob_state || !prob_state->contains("fcomb.z_projector.0.weight")) {
    if (!flags.latent_net) c.prob.latent_net = prob::LatentNetKind::kNone;
    return c;
  }
  const auto& projector = prob_state->at("fcomb.z_projector.0.weight");
  c.prob.latent_dim = projector.size(1);
  c.prob.projector_hidden = projector.size(0);
  if (!flags.latent_net) {
    PSAM_CHECK(prob_state->contains("prior_net.encoder.0.weight"),
               fmt::format("{}: the latent nets are of a kind that cannot be read off the "
                           "weights; give --latent-net",
                           file.path));
    const auto& first = prob_state->at("prior_net.encoder.0.weight");
    c.prob.latent_net =
        first.size(-1) == 1 ? prob::LatentNetKind::kEmbedding : prob::LatentNetKind::kReference;
  }
  if (c.prob.latent_net == prob::LatentNetKind::kEmbedding &&
      prob_state->contains("prior_net.encoder.0.weight"))
    c.prob.embedding_hidden_channels = prob_state->at("prior_net.encoder.0.weight").size(0);
  return c;
}

// Loads the file's tensors into `model`: strictly by the model's own names for a checkpoint or
// `psam export --part psam`, else through the method (an export part in another layout, or
// weights with no stored config).
// The file with its EMA in place of the weights it averages (--weights ema).
ModelFile with_ema(const ModelFile& file) {
  PSAM_CHECK(!file.ema.empty(),
             fmt::format("{}: holds no EMA of the weights (--weights ema needs a training "
                         "checkpoint of a run with train.ema_decay > 0)",
                         file.path));
  ModelFile out = file;
  out.state = io::TensorDict();
  for (const auto& [name, tensor] : file.state)
    out.state.insert(name, file.ema.contains(name) ? file.ema.at(name) : tensor);
  for (const auto& [name, tensor] : file.ema) {
    PSAM_CHECK(file.state.contains(name),
               fmt::format("{}: its EMA names '{}', which the model has not", file.path, name));
  }
  return out;
}

void load_weights(Model& model, const ModelFile& file, bool stored) {
  if (stored && (file.part.empty() || file.part == "psam")) {
    io::load_state_dict(model.module(), file.state, "", file.path);
    return;
  }
  model.init_from_foreign(file.state, file.path);
}

}  // namespace

ModelSource resolve_model_source(const std::string& input) {
  const fs::path path(input);
  if (fs::is_directory(path)) {
    for (const char* name : {"best.pt", "last.pt"}) {
      const auto ckpt = path / "checkpoints" / name;
      if (fs::is_regular_file(ckpt)) return {ckpt.string(), input};
    }
    fail(fmt::format("{}: a directory without checkpoints/best.pt or checkpoints/last.pt "
                     "(expected a psam run directory or a checkpoint file)",
                     input));
  }
  PSAM_CHECK(fs::is_regular_file(path), fmt::format("{}: no such file or run directory", input));
  const auto run = path.parent_path().parent_path();
  const bool in_run =
      path.parent_path().filename() == "checkpoints" && fs::is_regular_file(run / "config.yaml");
  return {input, in_run ? run.string() : ""};
}

ModelFile read_model_file(const std::string& path) {
  ModelFile file;
  file.path = path;
  const io::FileFormat format = io::detect_format(path);
  if (format == io::FileFormat::kSafetensors) {
    io::Safetensors st = io::read_safetensors(path);
    file.state = std::move(st.tensors);
    const auto meta = [&](const char* key) -> std::optional<std::string> {
      const auto it = st.metadata.find(key);
      return it == st.metadata.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    if (const auto config = meta("psam_model_config"))
      file.config = model_config_from_json(*config, path + " (__metadata__)");
    file.preprocessing = meta("psam_preprocessing");
    file.part = meta("psam_part").value_or("");
    return file;
  }
  if (format != io::FileFormat::kTorchZip) {
    file.state = io::read_tensors(path);  // refuses other formats with a clear message
    return file;
  }
  const c10::IValue obj = io::read_pth(path);
  file.state = io::flatten_tensors(obj);
  if (obj.isGenericDict()) {
    const auto dict = obj.toGenericDict();
    const auto model = dict.find("model");
    if (model != dict.end() && model->value().isGenericDict()) {
      file.state = io::flatten_tensors(model->value());
      if (const auto config = string_entry(dict, "model_config", path))
        file.config = model_config_from_json(*config, path);
      file.preprocessing = string_entry(dict, "preprocessing", path);
      const auto ema = dict.find("ema");
      if (ema != dict.end() && ema->value().isGenericDict())
        file.ema = io::flatten_tensors(ema->value());
    }
  }
  if (!file.config) read_card(file);
  return file;
}

LoadedModel load_model(const std::string& path, const ModelFlags& flags,
                       const std::optional<ModelConfig>& fallback, const c10::Device& device) {
  ModelSource source = resolve_model_source(path);
  ModelFile file = read_model_file(source.checkpoint);
  return load_model(file, std::move(source), flags, fallback, device);
}

LoadedModel load_model(const ModelFile& file, ModelSource source, const ModelFlags& flags,
                       const std::optional<ModelConfig>& fallback, const c10::Device& device) {
  LoadedModel out;
  out.source = std::move(source);
  ModelConfig config;
  if (file.config) {
    check_model_flags(flags, *file.config, file.path);
    config = *file.config;
    config.init_from.clear();
    // An official-layout SAM export holds the SAM alone: the deterministic SAM of that shape.
    if (file.part == "sam") config.prob.latent_net = prob::LatentNetKind::kNone;
    out.stored_config = true;
  } else {
    config = inferred_config(file, flags, fallback);
    const bool psam_layout = sam::prob_sam_state(file.state, file.path).has_value();
    if (psam_layout) {
      log::warn(fmt::format(
          "{} stores no model config (written before psam stored one); rebuilt from {}. "
          "Re-save it with its config: psam export {} --part psam --out NEW.pt (with the same "
          "flags)",
          file.path, fallback ? "the given config" : "the flags and tensor shapes", file.path));
    } else {
      log::info(fmt::format("{}: foreign weights; model shape from {}", file.path,
                            flags.sam ? "--model" : "the tensor shapes"));
    }
  }
  out.preprocessing = file.preprocessing;
  out.model = registry_entry(config.kind).make(config);
  load_weights(*out.model, flags.ema ? with_ema(file) : file, out.stored_config);
  out.model->module().eval();
  out.model->to(device);
  return out;
}

void init_from(Model& model, const std::string& path) {
  ModelFile file = read_model_file(path);
  // Weights made for another input size (e.g. official 1024 px SAM into a 256 px model).
  file.state =
      sam::resize_position_tables(file.state, io::state_dict(model.module()), path);
  if (file.config && (file.part.empty() || file.part == "psam")) {
    ModelConfig stored = *file.config, ours = model.config();
    // Where the weights start from and which of them train change no tensor.
    stored.init_from = ours.init_from = "";
    stored.prob.trainable = ours.prob.trainable;
    if (stored == ours) {
      io::load_state_dict(model.module(), file.state, "", path);
      log::info(fmt::format("model: every weight from {}", path));
      return;
    }
  }
  if (!file.config) {
    model.init_from_foreign(file.state, path);
    return;
  }
  // A psam file of another method: the method takes what fits (the SAM part of any SAM-based
  // one); when nothing does, the error names both kinds rather than a missing tensor.
  try {
    model.init_from_foreign(file.state, path);
  } catch (const Error& e) {
    fail(fmt::format("model.init_from {}: a psam {} model, and nothing of it fits a {} ({})", path,
                     file.config->kind, model.kind(), e.what()));
  }
}

}  // namespace psam::models
