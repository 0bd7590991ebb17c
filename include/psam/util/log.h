// Logging to the console and, during a run, to the run's train.log. spdlog stays behind this
// header so the library's public headers do not pull it in.
#pragma once

#include <string>

namespace psam::log {

void set_console_level(const std::string& level);  // debug | info | warn | error
void add_file(const std::string& path);             // appends; every level from debug up
void close_files();

void debug(const std::string& message);
void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

}  // namespace psam::log
