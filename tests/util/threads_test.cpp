// set_num_threads(0): OMP_NUM_THREADS where it holds a positive integer, every core otherwise
// (the test sweep and cluster jobs pin psam's threads through that variable).
#include "psam/util/threads.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <thread>

namespace psam {
namespace {

class ThreadsFromEnvironment : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("OMP_NUM_THREADS")) saved_ = v;
    before_ = torch::get_num_threads();
  }
  void TearDown() override {
    if (saved_) setenv("OMP_NUM_THREADS", saved_->c_str(), 1);
    else unsetenv("OMP_NUM_THREADS");
    torch::set_num_threads(before_);
  }
  static int threads_with(const char* value) {
    if (value) setenv("OMP_NUM_THREADS", value, 1);
    else unsetenv("OMP_NUM_THREADS");
    set_num_threads(0);
    return torch::get_num_threads();
  }
  std::optional<std::string> saved_;
  int before_ = 1;
};

TEST_F(ThreadsFromEnvironment, ZeroTakesTheVariableElseEveryCore) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(threads_with("3"), 3);
  EXPECT_EQ(threads_with("1"), 1);
  EXPECT_EQ(threads_with(nullptr), cores);
  for (const char* bad : {"", "0", "-2", "two", "2x"}) EXPECT_EQ(threads_with(bad), cores) << bad;
}

TEST_F(ThreadsFromEnvironment, AnExplicitCountWins) {
  setenv("OMP_NUM_THREADS", "3", 1);
  set_num_threads(1);
  EXPECT_EQ(torch::get_num_threads(), 1);
}

}  // namespace
}  // namespace psam
