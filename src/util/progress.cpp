#include "psam/util/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "psam/util/log.h"

namespace psam {
namespace {

constexpr int kBarWidth = 20;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "MM:SS", or "H:MM:SS" from an hour up.
std::string format_duration(int64_t s) {
  if (s < 3600) return fmt::format("{:02}:{:02}", s / 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

// Rate and ETA from the steps done since the start (a plain average: warm-up steps count too,
// which errs towards a late ETA rather than an early one).
struct Timing {
  std::string rate = "? it/s";
  std::string elapsed;
  std::string eta = "?";
};

Timing timing(int64_t total, int64_t done, int64_t initial, double elapsed) {
  Timing t;
  t.elapsed = format_duration(static_cast<int64_t>(std::max(0.0, elapsed)));  // whole seconds
  const int64_t steps = done - initial;
  if (steps <= 0 || elapsed <= 0) return t;
  const double per_second = steps / elapsed;
  // Slow loops (a CPU SAM step) read better as seconds per step.
  t.rate = per_second >= 1 ? fmt::format("{:.2f} it/s", per_second)
                           : fmt::format("{:.2f} s/it", elapsed / steps);
  if (total > 0)
    t.eta = format_duration(std::llround(std::max<int64_t>(0, total - done) / per_second));
  return t;
}

}  // namespace

Progress::Progress(int64_t total, std::string label, Options options)
    : total_(total),
      label_(std::move(label)),
      options_(std::move(options)),
      tty_(options_.tty.value_or(::isatty(STDERR_FILENO) == 1)),
      done_(options_.initial) {
  if (!options_.clock) options_.clock = steady_seconds;
  if (options_.width <= 0) options_.width = options_.out ? 80 : terminal_columns();
  start_ = last_now_ = now();
  // A terminal shows the bar at once; plain lines start after one interval, so short loops
  // log only their final line.
  next_draw_ = tty_ ? start_ : start_ + options_.log_every_s;
  if (tty_ && !options_.out) log::set_console_bar_active(true);
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; losing the last line is acceptable
  }
}

double Progress::now() const { return options_.clock(); }

bool Progress::advance(int64_t done) {
  done_ = done;
  last_now_ = now();
  if (last_now_ < next_draw_) return false;
  next_draw_ = last_now_ + (tty_ ? options_.redraw_every_s : options_.log_every_s);
  return true;
}

std::string Progress::line() const {
  const Timing t = timing(total_, done_, options_.initial, last_now_ - start_);
  std::string text = fmt::format("{}: {}", label_, done_);
  if (total_ > 0) text += fmt::format("/{} ({}%)", total_, done_ * 100 / total_);
  text += fmt::format(", {}, elapsed {}", t.rate, t.elapsed);
  if (total_ > 0) text += fmt::format(", eta {}", t.eta);
  if (!postfix_.empty()) text += ", " + postfix_;
  return text;
}

std::string Progress::bar_line() const {
  const Timing t = timing(total_, done_, options_.initial, last_now_ - start_);
  std::string text = label_ + ":";
  if (total_ > 0) {
    const int64_t clamped = std::clamp<int64_t>(done_, 0, total_);
    const int filled = static_cast<int>(clamped * kBarWidth / total_);
    text += fmt::format(" {:3}% [{}{}] {}/{} {}<{}", done_ * 100 / total_, std::string(filled, '#'),
                        std::string(kBarWidth - filled, ' '), done_, total_, t.elapsed, t.eta);
  } else {
    text += fmt::format(" {} {}", done_, t.elapsed);
  }
  text += " " + t.rate;
  if (!postfix_.empty()) text += " " + postfix_;
  // One column short of the width: a full line would wrap on some terminals.
  if (static_cast<int>(text.size()) >= options_.width) text.resize(std::max(0, options_.width - 1));
  return text;
}

void Progress::draw() {
  if (tty_) {
    std::ostream& out = options_.out ? *options_.out : std::cerr;
    out << '\r' << bar_line() << "\033[K" << std::flush;
  } else if (options_.out) {
    *options_.out << line() << '\n';
  } else {
    log::info(line());
  }
}

void Progress::finish(std::string_view postfix) {
  if (finished_) return;
  last_now_ = now();
  if (!postfix.empty()) postfix_ = std::string(postfix);
  draw();
  finished_ = true;
  if (tty_) {
    std::ostream& out = options_.out ? *options_.out : std::cerr;
    out << '\n' << std::flush;
    if (!options_.out) log::set_console_bar_active(false);
    log::file_info(line());  // the bar never reaches train.log; its summary does
  }
}

}  // namespace psam
