#include "psam/util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "psam/util/error.h"

namespace psam::log {
namespace {

using Sink = std::shared_ptr<spdlog::sinks::sink>;

// spdlog's loggers do not guard their sink lists, so adding a file while a loader thread logs
// would race. Instead each change builds new loggers and publishes them with an atomic swap.
struct Loggers {
  std::shared_ptr<spdlog::logger> all;    // console and files
  std::shared_ptr<spdlog::logger> files;  // files only
  std::vector<std::pair<std::string, Sink>> file_sinks;
};

std::shared_ptr<spdlog::logger> make_logger(const std::vector<Sink>& sinks) {
  auto logger = std::make_shared<spdlog::logger>("psam", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  return logger;
}

struct State {
  Sink console;
  std::mutex edit;  // serialises add_file / close_files
  std::shared_ptr<const Loggers> loggers;
  std::atomic<bool> bar_active{false};

  State() : console(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {
    console->set_level(spdlog::level::info);
    console->set_pattern("[%H:%M:%S] %^%l%$ %v");
    publish({});
  }

  void publish(std::vector<std::pair<std::string, Sink>> file_sinks) {
    auto next = std::make_shared<Loggers>();
    std::vector<Sink> files;
    for (const auto& entry : file_sinks) files.push_back(entry.second);
    std::vector<Sink> all = files;
    all.insert(all.begin(), console);
    next->all = make_logger(all);
    next->files = make_logger(files);
    next->file_sinks = std::move(file_sinks);
    std::atomic_store(&loggers, std::shared_ptr<const Loggers>(std::move(next)));
  }

  std::shared_ptr<const Loggers> current() const { return std::atomic_load(&loggers); }
};

State& state() {
  static State s;
  return s;
}

void emit(spdlog::level::level_enum level, const std::string& message) {
  State& s = state();
  if (s.bar_active.load(std::memory_order_relaxed) && s.console->should_log(level)) {
    std::fputs("\r\033[K", stderr);
  }
  // A string_view is logged as is: braces in the message are not format fields.
  s.current()->all->log(level, spdlog::string_view_t(message));
}

}  // namespace

void set_console_level(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  PSAM_CHECK(parsed != spdlog::level::off || level == "off",
             "log level '" + level + "': expected debug, info, warn, error or off");
  state().console->set_level(parsed);
}

void add_file(const std::string& path) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.edit);
  auto file_sinks = s.current()->file_sinks;
  for (const auto& entry : file_sinks) {
    if (entry.first == path) return;
  }
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] %l %v");
    sink->set_level(spdlog::level::debug);
    file_sinks.emplace_back(path, std::move(sink));
  } catch (const spdlog::spdlog_ex& e) {
    fail("cannot open log file " + path + ": " + e.what());
  }
  s.publish(std::move(file_sinks));
}

void close_files() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.edit);
  s.current()->all->flush();
  s.publish({});
}

void debug(const std::string& message) { emit(spdlog::level::debug, message); }
void info(const std::string& message) { emit(spdlog::level::info, message); }
void warn(const std::string& message) { emit(spdlog::level::warn, message); }
void error(const std::string& message) { emit(spdlog::level::err, message); }

void file_info(const std::string& message) {
  state().current()->files->log(spdlog::level::info, spdlog::string_view_t(message));
}

void set_console_bar_active(bool active) { state().bar_active.store(active); }

}  // namespace psam::log
