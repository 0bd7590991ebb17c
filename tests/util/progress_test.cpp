#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "psam/util/log.h"
#include "psam/util/progress.h"
#include "support/testing.h"

namespace {

// A Progress on a hand-driven clock writing to a string: every rate and ETA is exact.
struct Fixture {
  double now = 0;
  std::ostringstream out;

  psam::ProgressOptions options(bool tty) {
    psam::ProgressOptions o;
    o.tty = tty;
    o.out = &out;
    o.clock = [this] { return now; };
    return o;
  }
  std::string take() {
    std::string text = out.str();
    out.str("");
    return text;
  }
};

}  // namespace

TEST(Progress, PlainLinesEveryIntervalWithExactRateAndEta) {
  Fixture f;
  psam::Progress bar(100, "train", f.options(false));  // lines every 10 s
  f.now = 1;
  bar.update(1, "loss=0.90");
  EXPECT_EQ(f.take(), "");  // not due yet: short loops stay quiet
  f.now = 10;
  bar.update(20, "loss=0.50");
  // 20 steps in 10 s = 2 it/s; 80 left / 2 = 40 s.
  EXPECT_EQ(f.take(), "train: 20/100 (20%), 2.00 it/s, elapsed 00:10, eta 00:40, loss=0.50\n");
  f.now = 15;
  bar.update(30, "loss=0.40");
  EXPECT_EQ(f.take(), "");
  f.now = 20;
  bar.update(50, "loss=0.30");
  EXPECT_EQ(f.take(), "train: 50/100 (50%), 2.50 it/s, elapsed 00:20, eta 00:20, loss=0.30\n");
  f.now = 25;
  bar.update(100, "loss=0.20");
  EXPECT_EQ(f.take(), "");
  bar.finish();  // shows the latest postfix, drawn or not
  EXPECT_EQ(f.take(), "train: 100/100 (100%), 4.00 it/s, elapsed 00:25, eta 00:00, loss=0.20\n");
  f.now = 40;
  bar.update(120, "late");
  bar.finish();
  EXPECT_EQ(f.take(), "");  // finished: nothing more
}

TEST(Progress, SlowStepsReadAsSecondsPerStep) {
  Fixture f;
  psam::Progress bar(3, "eval", f.options(false));
  f.now = 12.4;
  bar.step();
  EXPECT_EQ(f.take(), "eval: 1/3 (33%), 12.40 s/it, elapsed 00:12, eta 00:25\n");
}

TEST(Progress, HoursUnknownTotalAndResumedRuns) {
  Fixture f;
  {
    psam::Progress bar(0, "scan", f.options(false));
    f.now = 3725;
    bar.update(7450);
    EXPECT_EQ(f.take(), "scan: 7450, 2.00 it/s, elapsed 1:02:05\n");
  }  // the destructor finishes
  EXPECT_EQ(f.take(), "scan: 7450, 2.00 it/s, elapsed 1:02:05\n");

  auto options = f.options(false);
  options.initial = 500;  // resumed at step 500: only the 100 new steps count for the rate
  f.now = 0;
  psam::Progress resumed(1000, "train", options);
  f.now = 10;
  resumed.update(600);
  EXPECT_EQ(f.take(), "train: 600/1000 (60%), 10.00 it/s, elapsed 00:10, eta 00:40\n");
  f.now = 10.5;
  resumed.finish("done");
  EXPECT_EQ(f.take(), "train: 600/1000 (60%), 9.52 it/s, elapsed 00:10, eta 00:42, done\n");
}

TEST(Progress, NoRateBeforeTheFirstStep) {
  Fixture f;
  psam::Progress bar(10, "wait", f.options(false));
  f.now = 10;
  bar.update(0);
  EXPECT_EQ(f.take(), "wait: 0/10 (0%), ? it/s, elapsed 00:10, eta ?\n");
}

TEST(Progress, LazyPostfixIsBuiltOnlyWhenDrawn) {
  Fixture f;
  psam::Progress bar(1000, "train", f.options(false));
  int calls = 0;
  auto postfix = [&] {
    ++calls;
    return std::string("loss=1");
  };
  for (int i = 1; i <= 1000; ++i) {
    f.now = i / 10.0;  // a line every 10 s = every 100 steps
    bar.step(postfix);
  }
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(bar.line(), "train: 1000/1000 (100%), 10.00 it/s, elapsed 01:40, eta 00:00, loss=1");
}

TEST(Progress, TerminalRedrawsOneLine) {
  Fixture f;
  auto options = f.options(true);
  options.width = 80;
  psam::Progress bar(100, "train", options);
  f.now = 10;
  bar.update(20, "loss=0.5");  // the first update draws at once
  EXPECT_EQ(f.take(),
            "\rtrain:  20% [####                ] 20/100 00:10<00:40 2.00 it/s loss=0.5\033[K");
  f.now = 10.05;
  bar.update(21, "loss=0.4");
  EXPECT_EQ(f.take(), "");  // redraws at most every 0.1 s
  f.now = 20;
  bar.update(100, "loss=0.3");
  bar.finish();
  EXPECT_EQ(f.take(),
            "\rtrain: 100% [####################] 100/100 00:20<00:00 5.00 it/s loss=0.3\033[K"
            "\rtrain: 100% [####################] 100/100 00:20<00:00 5.00 it/s loss=0.3\033[K\n");
}

TEST(Progress, TerminalLineFitsTheWidth) {
  Fixture f;
  auto options = f.options(true);
  options.width = 40;
  psam::Progress bar(0, "import", options);
  f.now = 2;
  bar.update(4, std::string(100, 'x'));
  const std::string text = f.take();
  EXPECT_EQ(text, "\rimport: 4 00:02 2.00 it/s xxxxxxxxxxxxx\033[K");
  EXPECT_EQ(text.size(), 1 + 39 + 3);
}

// Without an injected stream, plain lines go through the logger and so into train.log.
TEST(Progress, PlainLinesReachTheLogFile) {
  psam::support::TempDir dir;
  const std::string path = dir.path() + "/train.log";
  psam::log::set_console_level("off");
  psam::log::add_file(path);
  {
    Fixture f;
    auto options = f.options(false);
    options.out = nullptr;
    psam::Progress bar(4, "epoch 1", options);
    f.now = 2;
    bar.update(4, "loss=0.25");
    bar.finish();
  }
  psam::log::close_files();
  psam::log::set_console_level("info");
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_NE(line.find("] info epoch 1: 4/4 (100%), 2.00 it/s, elapsed 00:02, eta 00:00, loss=0.25"),
            std::string::npos)
      << line;
}
