// Cost of one Progress::update() call, the number that decides whether a training loop may call
// it every step. Prints nanoseconds per call for plain (log) mode and terminal mode.
#include <chrono>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "psam/util/progress.h"

namespace {

template <class Step>
double ns_per_call(int64_t n, Step step) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 1; i <= n; ++i) step(i);
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  return took.count() / n;
}

}  // namespace

int main() {
  constexpr int64_t kSteps = 5'000'000;
  std::ostringstream sink;
  for (const bool tty : {false, true}) {
    psam::ProgressOptions options;
    options.tty = tty;
    options.out = &sink;
    psam::Progress text_bar(kSteps, "bench", options);
    const double text =
        ns_per_call(kSteps, [&](int64_t i) { text_bar.update(i, "loss=0.1234 kl=0.5678"); });
    psam::Progress lazy_bar(kSteps, "bench", options);
    const double lazy = ns_per_call(kSteps, [&](int64_t i) {
      lazy_bar.update(i, [&] { return fmt::format("loss={:.4f}", 1.0 / i); });
    });
    std::cout << (tty ? "terminal" : "plain") << " mode: " << text << " ns/update (text postfix), "
              << lazy << " ns/update (lazy postfix)\n";
  }
  std::cout << "(" << kSteps << " updates each; output went to a string stream of "
            << sink.str().size() << " bytes)\n";
}
