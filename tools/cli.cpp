#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ostream>

#include "psam/prob/latent_net.h"
#include "psam/util/allocator.h"
#include "psam/util/error.h"
#include "psam/util/log.h"
#include "psam/util/names.h"
#include "psam/util/threads.h"

namespace psam::cli {
namespace {

// The first line of a torch error: its backtrace is noise to a user.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

int run(const std::vector<std::string>& args, Io io) {
  CLI::App app{
      "psam: ambiguity-aware medical image segmentation (SAM and Probabilistic SAM in LibTorch)",
      "psam"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("psam ") + PSAM_VERSION);
  int threads = 0;
  std::string log_level = "info";
  app.add_option("--threads", threads, "CPU threads for libtorch (0 = OMP_NUM_THREADS if set, else all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", log_level, "console log level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  int rc = 0;
  add_train_command(app, io, rc);
  add_eval_command(app, io, rc);
  add_eval_masks_command(app, io, rc);
  add_predict_command(app, io, rc);
  add_export_command(app, io, rc);
  add_data_command(app, io, rc);
  add_info_command(app, io, rc);
  add_compare_command(app, io, rc);
  app.parse_complete_callback([&] {
    log::set_console_level(log_level);
    set_num_threads(threads);
    reuse_freed_memory();
  });

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, io.out, io.err);
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

void add_latent_shape_options(CLI::App* sub, std::optional<std::string>& latent_net,
                              std::optional<int64_t>& latent_input_size) {
  sub->add_option("--latent-net", latent_net,
                  "for files that store no model config: the latent-net kind (default: read off "
                  "the weights)")
      ->check(CLI::IsMember(names_of<prob::LatentNetKind>()));
  sub->add_option("--latent-input-size", latent_input_size,
                  "for files that store no model config: the input size of the pixel latent nets "
                  "(0 = SAM's)")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace psam::cli
