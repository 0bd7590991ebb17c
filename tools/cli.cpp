#include "cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <ostream>
#include <sstream>

#include "cli_checks.h"
#include "config/config.h"
#include "config/suggest.h"
#include "psam/prob/latent_net.h"
#include "psam/util/allocator.h"
#include "psam/util/error.h"
#include "psam/util/log.h"
#include "psam/util/names.h"
#include "psam/util/attention_path.h"
#include "psam/util/threads.h"

namespace psam::cli {
namespace {

// The first line of a torch error: its backtrace is noise to a user.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

CLI::Validator number_check(const std::string& description, bool (*ok)(double)) {
  return CLI::Validator(
      [description, ok](std::string& text) -> std::string {
        try {
          size_t used = 0;
          const double value = std::stod(text, &used);
          if (used == text.size() && ok(value)) return "";
        } catch (const std::exception&) {
        }
        return "must be a number " + description + ", got " + text;
      },
      description);
}

// A training or evaluation setting given as an unknown option (--epochs 1, a Lightning habit):
// the override that sets it, e.g. "train.epochs=1"; empty when no config key is named so.
std::string as_override(const std::vector<std::string>& extras,
                        const std::vector<std::string>& args) {
  config::Config defaults;
  const std::vector<std::string> keys = config::Schema(defaults).keys();
  const auto is_option = [](const std::string& a) { return a.rfind("--", 0) == 0; };
  for (const std::string& extra : extras) {
    if (!is_option(extra) || extra.size() < 3) continue;
    std::string name = extra.substr(2), value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      // Its value is the word after it on the command line (a positional may have taken it).
      const auto at = std::find(args.begin(), args.end(), extra);
      if (at != args.end() && at + 1 != args.end() && !is_option(*(at + 1))) value = *(at + 1);
    }
    std::replace(name.begin(), name.end(), '-', '_');
    const std::string key = config::closest_key(name, keys);
    const std::string last = key.substr(key.rfind('.') + 1);
    if (!key.empty() && config::edit_distance(name, last) == 0)
      return fmt::format("{}={}", key, value.empty() ? "VALUE" : value);
  }
  return "";
}

// One line for a command-line mistake (CLI11 prints two, with its own exit codes).
std::string parse_error_line(const CLI::ParseError& e, const CLI::App& app,
                             const std::vector<std::string>& args) {
  std::string message = first_line(e.what());
  const auto parsed = app.get_subcommands();
  const std::string command = parsed.empty() ? "" : parsed.front()->get_name();
  if (parsed.empty() && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    // "A subcommand is required": the first word that is not an option names none psam has.
    for (const std::string& word : app.remaining()) {
      if (word.rfind("-", 0) == 0) continue;
      std::string commands;
      for (const CLI::App* sub : app.get_subcommands(std::function<bool(const CLI::App*)>()))
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
      return fmt::format("'{}' is not a psam command (the commands: {}; see psam --help)", word,
                         commands);
    }
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr &&
      (command == "train" || command == "eval" || command == "compare")) {
    std::vector<std::string> extras = parsed.front()->remaining();
    if (extras.empty()) extras = app.remaining();
    const std::string hint = as_override(extras, args);
    if (!hint.empty())
      return fmt::format("{}; config settings are key=value overrides: did you mean {}?",
                         message, hint);
  }
  return fmt::format("{} (see psam {}--help)", message, command.empty() ? "" : command + " ");
}

}  // namespace

CLI::Validator positive() {
  return number_check("> 0", [](double v) { return v > 0; });
}

CLI::Validator non_negative() {
  return number_check(">= 0", [](double v) { return v >= 0; });
}

namespace {

// The whole command line: global options and every subcommand.
// The options every subcommand takes.
struct GlobalOptions {
  int threads = 0;
  std::string log_level = "info";
  AttentionPath attention = AttentionPath::kAuto;
};

void build_app(CLI::App& app, Io io, int& rc, GlobalOptions& global) {
  app.require_subcommand(1);
  // The global options work after the subcommand too (psam train CONFIG --threads 2).
  app.fallthrough();
  app.set_version_flag("--version", std::string("psam ") + PSAM_VERSION);
  app.add_option("--threads", global.threads, "CPU threads for libtorch (0 = OMP_NUM_THREADS if set, else all cores)")
      ->check(non_negative());
  app.add_option("--log-level", global.log_level, "console log level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option_function<std::string>(
         "--attention",
         [&global](const std::string& v) { global.attention = value_of<AttentionPath>(v, "--attention"); },
         "attention kernels: sdpa (fused scaled_dot_product_attention, libtorch >= 2.1), explicit "
         "(matmul + softmax, as the official code), auto (sdpa where available); docs/performance.md")
      ->check(CLI::IsMember(names_of<AttentionPath>()));
  add_train_command(app, io, rc);
  add_eval_command(app, io, rc);
  add_eval_masks_command(app, io, rc);
  add_predict_command(app, io, rc);
  add_export_command(app, io, rc);
  add_data_command(app, io, rc);
  add_info_command(app, io, rc);
  add_compare_command(app, io, rc);
}

constexpr const char* kDescription =
    "psam: ambiguity-aware medical image segmentation (SAM and Probabilistic SAM in LibTorch)";

}  // namespace

std::string check_command_line(const std::vector<std::string>& args) {
  std::ostringstream sink;
  int rc = 0;
  GlobalOptions global;
  CLI::App app{kDescription, "psam"};
  build_app(app, {sink, sink}, rc, global);
  config::Config defaults;
  const config::Schema schema(defaults);
  const std::vector<std::string> keys = schema.keys(), mappings = schema.mapping_keys();
  CLI::App* command = &app;
  for (const std::string& word : args) {
    // Usage lines wrap optional parts in brackets: "[--format", "(--box", "[key=value".
    const bool optional = word.find_first_of("[(") == 0;
    const std::string arg = word.substr(std::min(word.size(), word.find_first_not_of("[(")));
    if (arg.rfind("--", 0) == 0) {
      // An option, as written in a usage line too ("[--format", "--part=sam]").
      std::string name = arg.substr(0, arg.find_first_of("=[]()|,"));
      if (command->get_option_no_throw(name) == nullptr &&
          app.get_option_no_throw(name) == nullptr)
        return fmt::format("psam {}: no option {}", command->get_name(), name);
      continue;
    }
    const auto subs = command->get_subcommands(
        std::function<bool(CLI::App*)>([&](CLI::App* sub) { return sub->check_name(arg); }));
    if (!subs.empty()) {
      command = subs.front();
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string& name = command->get_name();
    // (compare's key=value are the benchmark file's keys, checked when it loads)
    if (eq != std::string::npos && !optional && (name == "train" || name == "eval")) {
      // key=value: a field, or a section given as a mapping (run={seed: 3}).
      const std::string key = arg.substr(0, eq);
      const bool known =
          std::any_of(keys.begin(), keys.end(),
                      [&](const std::string& k) { return k == key || k.rfind(key + ".", 0) == 0; }) ||
          std::any_of(mappings.begin(), mappings.end(),
                      [&](const std::string& m) { return key.rfind(m + ".", 0) == 0; });
      if (!known && key.find_first_of("[]()|") == std::string::npos)
        return fmt::format("psam {}: no config key {}", name, key);
    }
  }
  if (command == &app) return "psam: no subcommand";
  return "";
}

int run(const std::vector<std::string>& args, Io io) {
  CLI::App app{kDescription, "psam"};
  int rc = 0;
  GlobalOptions global;
  build_app(app, io, rc, global);
  app.parse_complete_callback([&] {
    log::set_console_level(global.log_level);
    set_num_threads(global.threads);
    set_attention_path(global.attention);
    reuse_freed_memory();
  });

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, io.out, io.err);  // --help, --version
    io.err << "psam: error: " << parse_error_line(e, app, args) << "\n";
    return 1;
  } catch (const Error& e) {
    io.err << "psam: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    io.err << "psam: error: " << first_line(e.what_without_backtrace()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    io.err << "psam: error: " << first_line(e.what()) << "\n";
    return 1;
  }
  return rc;
}

void add_weights_option(CLI::App* sub, bool& ema) {
  sub->add_option_function<std::string>(
         "--weights", [&ema](const std::string& value) { ema = value == "ema"; },
         "model: a checkpoint's weights (default); ema: their moving average (runs trained "
         "with train.ema_decay)")
      ->check(CLI::IsMember({"model", "ema"}));
}

void add_latent_shape_options(CLI::App* sub, std::optional<std::string>& latent_net,
                              std::optional<int64_t>& latent_input_size) {
  sub->add_option("--latent-net", latent_net,
                  "for files that store no model config: the latent-net kind (default: read off "
                  "the weights)")
      ->check(CLI::IsMember(names_of<prob::LatentNetKind>()));
  sub->add_option("--latent-input-size", latent_input_size,
                  "for files that store no model config: the input size of the pixel latent nets "
                  "(0 = SAM's)")
      ->check(non_negative());
}

}  // namespace psam::cli
