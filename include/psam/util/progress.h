// Progress of a loop (training steps, evaluation cases, import files). On a terminal: one line
// redrawn in place with bar, count, rate, elapsed time, ETA and a postfix (loss terms). Elsewhere
// (CI logs, redirected output): a plain line every few seconds through the logger, so train.log
// and CI logs stay readable. Cheap enough to call every step; use from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace psam {

struct ProgressOptions {
  double log_every_s = 10;        // plain mode: seconds between lines
  double redraw_every_s = 0.1;    // terminal mode: seconds between redraws
  std::optional<bool> tty;        // terminal mode? default: whether stderr is a terminal
  std::ostream* out = nullptr;    // default: stderr in terminal mode, the logger in plain mode
  int width = 0;                  // terminal columns; 0 = ask the terminal (80 if it cannot say)
  int64_t initial = 0;            // steps already done (a resumed run); left out of the rate
  std::function<double()> clock;  // monotonic seconds; default: std::chrono::steady_clock
};

class Progress {
 public:
  using Options = ProgressOptions;

  // total <= 0: unknown length (no percentage, bar or ETA).
  Progress(int64_t total, std::string label, Options options = {});
  ~Progress();  // finishes if finish() was not called
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count of finished steps. The postfix is either text or a function returning text,
  // called only when a line is drawn (so `loss.item()` need not sync the GPU every step).
  void update(int64_t done, std::string_view postfix = {}) {
    if (finished_) return;
    postfix_.assign(postfix.data(), postfix.size());
    if (advance(done)) draw();
  }
  template <class F, class = std::enable_if_t<std::is_invocable_r_v<std::string, F&>>>
  void update(int64_t done, F&& postfix) {
    if (finished_) return;
    if (advance(done)) {
      postfix_ = postfix();
      draw();
    }
  }
  void step(std::string_view postfix = {}) { update(done_ + 1, postfix); }
  template <class F, class = std::enable_if_t<std::is_invocable_r_v<std::string, F&>>>
  void step(F&& postfix) {
    update(done_ + 1, std::forward<F>(postfix));
  }

  // Draws the final state and ends the line; later calls do nothing. An empty postfix keeps the
  // latest one.
  void finish(std::string_view postfix = {});

  // The plain-mode line for the current state, e.g.
  // "train: 42/100 (42%), 3.50 it/s, elapsed 00:12, eta 00:17, loss=0.31".
  std::string line() const;

 private:
  bool advance(int64_t done);  // records done; true when a line is due
  void draw();
  std::string bar_line() const;
  double now() const;

  int64_t total_;
  std::string label_;
  Options options_;
  bool tty_;
  bool finished_ = false;
  int64_t done_;
  double start_;
  double last_now_;
  double next_draw_;
  std::string postfix_;
};

}  // namespace psam
