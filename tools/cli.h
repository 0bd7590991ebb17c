// The psam command line as a library: tests call run() in-process with the same arguments a
// user types, and each subcommand's work is a plain function declared in its own header.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace psam::cli {

// Where a command prints; tests pass string streams.
struct Io {
  std::ostream& out;
  std::ostream& err;
};

// Runs `psam ARGS...` (args exclude the program name); returns the exit status. Every
// psam::Error, parse error or torch error becomes one line on io.err and a non-zero status.
int run(const std::vector<std::string>& args, Io io);

// Whether a command line (without "psam") names only subcommands, options and config keys that
// exist: "" if so, else the first unknown one. For the docs test; values are not checked.
std::string check_command_line(const std::vector<std::string>& args);

// Each subcommand file registers itself; `rc` receives the command's exit status.
void add_train_command(CLI::App& app, Io io, int& rc);
void add_eval_command(CLI::App& app, Io io, int& rc);
void add_eval_masks_command(CLI::App& app, Io io, int& rc);
void add_predict_command(CLI::App& app, Io io, int& rc);
void add_export_command(CLI::App& app, Io io, int& rc);
void add_data_command(CLI::App& app, Io io, int& rc);
void add_info_command(CLI::App& app, Io io, int& rc);
void add_compare_command(CLI::App& app, Io io, int& rc);

// --latent-net and --latent-input-size: the latent nets' shape for weight files that store no
// model config (export and predict take the same two).
// --weights model|ema: sets `ema` for ema (models::ModelFlags::ema).
void add_weights_option(CLI::App* sub, bool& ema);
void add_latent_shape_options(CLI::App* sub, std::optional<std::string>& latent_net,
                              std::optional<int64_t>& latent_input_size);

}  // namespace psam::cli
