#include "psam/util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "psam/util/error.h"

namespace psam::log {
namespace {

struct State {
  std::shared_ptr<spdlog::sinks::sink> console;
  std::shared_ptr<spdlog::logger> logger;
  State() {
    console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_level(spdlog::level::info);
    logger = std::make_shared<spdlog::logger>("psam", console);
    logger->set_level(spdlog::level::debug);
    logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
    logger->flush_on(spdlog::level::info);
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

void set_console_level(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  PSAM_CHECK(parsed != spdlog::level::off || level == "off",
             "log level '" + level + "': expected debug, info, warn or error");
  state().console->set_level(parsed);
}

void add_file(const std::string& path) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] %l %v");
    sink->set_level(spdlog::level::debug);
    state().logger->sinks().push_back(sink);
  } catch (const spdlog::spdlog_ex& e) {
    fail("cannot open log file " + path + ": " + e.what());
  }
}

void close_files() {
  auto& sinks = state().logger->sinks();
  state().logger->flush();
  sinks.erase(std::remove_if(sinks.begin(), sinks.end(),
                             [](const auto& s) { return s != state().console; }),
              sinks.end());
}

void debug(const std::string& message) { state().logger->debug(message); }
void info(const std::string& message) { state().logger->info(message); }
void warn(const std::string& message) { state().logger->warn(message); }
void error(const std::string& message) { state().logger->error(message); }

}  // namespace psam::log
