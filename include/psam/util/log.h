// Logging to the console and, during a run, to the run's train.log. spdlog stays behind this
// header so the library's public headers do not pull it in. Safe to call from any thread.
#pragma once

#include <string>

namespace psam::log {

void set_console_level(const std::string& level);  // debug | info | warn | error | off
void add_file(const std::string& path);  // appends; every level from debug up; once per path
void close_files();                      // flushes and detaches every file added

void debug(const std::string& message);
void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

// An info line for the log files only, for what the console already shows another way (the
// live progress bar).
void file_info(const std::string& message);

// While a progress bar holds the console's last line, console messages erase that line first
// so they do not end up glued to the bar.
void set_console_bar_active(bool active);

}  // namespace psam::log
