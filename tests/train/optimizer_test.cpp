// Adam / AdamW / SGD against torch.optim, gradient clipping, and the LR schedules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "psam/train/optimizer.h"
#include "psam/train/schedule.h"
#include "psam/util/error.h"
#include "sine_steps.h"
#include "support/testing.h"

namespace psam::train {
namespace {

// Two parameters, weight decay 0.1.
std::vector<float> run_cpp(OptimizerKind kind) {
  TrainConfig c;
  c.optimizer = kind;
  c.lr = 0.05;
  c.weight_decay = 0.1;
  c.betas = {0.8, 0.95};
  c.eps = 1e-6;
  c.momentum = 0.7;
  return test_sine::five_steps({{"a", torch::tensor({0.5f, -1.0f, 2.0f}).requires_grad_()},
                                {"b", torch::tensor({{0.25f}, {-0.75f}}).requires_grad_()}},
                               c);
}

TEST(Optimizer, MatchesTorchOptim) {
  if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  support::TempDir dir;
  const std::string script = dir.write("adam.py", R"(
import torch
adam = dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)
for cls, options in ((torch.optim.Adam, adam), (torch.optim.AdamW, adam),
                     (torch.optim.SGD, dict(lr=0.05, momentum=0.7, weight_decay=0.1))):
    a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    b = torch.tensor([[0.25], [-0.75]], requires_grad=True)
    opt = cls([a, b], **options)
    for t in range(5):
        opt.zero_grad()
        loss = sum((-torch.cos(3 * p + t) / 3).sum() for p in (a, b))
        loss.backward()
        opt.step()
    print(' '.join('%.9g' % v for v in torch.cat([a.detach().flatten(), b.detach().flatten()]).tolist()))
)");
  test_sine::expect_torch_values(support::run_python(script), run_cpp);
}

TEST(Optimizer, SgdMomentumStateRoundTrips) {
  TrainConfig c;
  c.optimizer = OptimizerKind::kSgd;
  c.lr = 0.5;
  c.momentum = 0.5;
  NamedParameters params = {{"w", torch::ones({2}).requires_grad_()}};
  Optimizer a(params, c);
  params[0].second.mutable_grad() = torch::tensor({1.0f, -2.0f});
  a.step();  // buf = g; w = 1 - 0.5 g
  const io::TensorDict state = a.state_dict();
  EXPECT_EQ(state.keys(), (std::vector<std::string>{"w.step", "w.momentum_buffer"}));
  NamedParameters other = {{"w", params[0].second.detach().clone().requires_grad_()}};
  Optimizer b(other, c);
  b.load_state_dict(state);
  other[0].second.mutable_grad() = torch::tensor({1.0f, 0.0f});
  b.step();  // buf = 0.5 (1, -2) + (1, 0) = (1.5, -1); w = (0.5, 2) - 0.5 buf
  EXPECT_TRUE(torch::allclose(other[0].second.detach(), torch::tensor({-0.25f, 2.5f})));
  c.optimizer = OptimizerKind::kAdam;
  Optimizer adam(other, c);
  EXPECT_THROW(adam.load_state_dict(state), Error);
}

TEST(Optimizer, StateByNameRoundTrips) {
  TrainConfig c;
  NamedParameters params = {{"w", torch::ones({3}).requires_grad_()}};
  Optimizer a(params, c);
  params[0].second.mutable_grad() = torch::tensor({1.0f, -2.0f, 3.0f});
  a.step();
  const io::TensorDict state = a.state_dict();
  EXPECT_EQ(state.keys(), (std::vector<std::string>{"w.step", "w.exp_avg", "w.exp_avg_sq"}));
  // (1 - beta1) g and (1 - beta2) g^2 after one step.
  EXPECT_TRUE(torch::allclose(state.at("w.exp_avg"), torch::tensor({0.1f, -0.2f, 0.3f})));
  EXPECT_TRUE(torch::allclose(state.at("w.exp_avg_sq"), torch::tensor({0.001f, 0.004f, 0.009f})));

  NamedParameters other = {{"w", torch::ones({3}).requires_grad_()}};
  Optimizer b(other, c);
  b.load_state_dict(state);
  EXPECT_EQ(b.state_dict().at("w.step").item<int64_t>(), 1);

  NamedParameters wrong = {{"w", torch::ones({4}).requires_grad_()}};
  Optimizer d(wrong, c);
  EXPECT_THROW(d.load_state_dict(state), Error);
  NamedParameters renamed = {{"v", torch::ones({3}).requires_grad_()}};
  Optimizer e(renamed, c);
  EXPECT_THROW(e.load_state_dict(state), Error);
}

TEST(ClipGradNorm, ScalesToTheBound) {
  NamedParameters params = {{"a", torch::zeros({2}).requires_grad_()},
                            {"b", torch::zeros({1}).requires_grad_()}};
  params[0].second.mutable_grad() = torch::tensor({3.0f, 0.0f});
  params[1].second.mutable_grad() = torch::tensor({4.0f});
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, 1.0), 5.0);
  EXPECT_NEAR(grad_norm(params), 1.0, 1e-6);
  EXPECT_NEAR(params[1].second.grad().item<float>(), 0.8, 1e-6);
  // Under the bound nothing changes; a NaN gradient is reported, not spread.
  EXPECT_NEAR(clip_grad_norm(params, 10.0), 1.0, 1e-6);
  params[0].second.mutable_grad() = torch::tensor({NAN, 0.0f});
  EXPECT_TRUE(std::isnan(clip_grad_norm(params, 1.0)));
  EXPECT_NEAR(params[1].second.grad().item<float>(), 0.8, 1e-6);
}

TEST(Schedule, Shapes) {
  TrainConfig c;
  c.lr = 1.0;
  EXPECT_EQ(scheduled_lr(c, 0, 100), 1.0);
  EXPECT_EQ(scheduled_lr(c, 99, 100), 1.0);

  c.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 0, 100), 0.25);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 3, 100), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 4, 100), 1.0);

  c.schedule = ScheduleKind::kCosine;
  c.min_lr = 0.1;
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 4, 105), 1.0);   // the cosine starts after the warm-up
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 104, 105), 0.1);  // and ends at min_lr on the last step
  EXPECT_NEAR(scheduled_lr(c, 54, 105), 0.55, 1e-12);  // half-way: the mean
  c.warmup_steps = 0;
  EXPECT_NEAR(scheduled_lr(c, 33, 100), 0.1 + 0.45 * (1 + std::cos(M_PI / 3)), 1e-12);

  c.schedule = ScheduleKind::kStep;
  c.step_size = 10;
  c.gamma = 0.5;
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 9, 100), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 35, 100), 0.125);
}

}  // namespace
}  // namespace psam::train
