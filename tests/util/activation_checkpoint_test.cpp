// Activation checkpointing: gradients as without it, dropout masks replayed from the saved
// generator states, the generators' streams left where the forward left them, and segments whose
// inputs need no gradient (trained weights after frozen layers).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "psam/util/activation_checkpoint.h"

namespace psam {
namespace {

struct CheckpointNet : torch::nn::Module {
  CheckpointNet() {
    torch::manual_seed(3);
    a = register_module("a", torch::nn::Linear(6, 8));
    b = register_module("b", torch::nn::Linear(8, 4));
  }
  // Dropout from `generator` (the default CPU generator when none).
  std::vector<at::Tensor> segment(const std::vector<at::Tensor>& in,
                                  c10::optional<at::Generator> generator) {
    auto h = torch::gelu(a(in[0]));
    const auto keep = at::empty(h.sizes(), h.options()).bernoulli_(0.5, generator);
    h = h * keep * 2 + in[1];
    return {b(h), h.sum(-1)};
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

struct SegmentGrads {
  std::vector<at::Tensor> params;
  at::Tensor x, y;
  at::Tensor next_default;  // the default generator's next draw after backward
};

SegmentGrads run_segment(bool checkpoint, c10::optional<at::Generator> generator, bool input_grad) {
  CheckpointNet net;
  torch::manual_seed(11);
  if (generator) generator->set_current_seed(5);
  const at::Tensor x = torch::randn({3, 6}).requires_grad_(input_grad);
  const at::Tensor y = torch::randn({3, 8}).requires_grad_(input_grad);
  const Segment segment = [&](const std::vector<at::Tensor>& in) {
    return net.segment(in, generator);
  };
  std::vector<at::Generator> generators;
  if (generator) generators.push_back(*generator);
  const auto out = checkpoint ? checkpointed(net, segment, {x, y}, generators) : segment({x, y});
  (out[0].square().sum() + out[1].sum() * 0.5).backward();
  SegmentGrads g;
  for (const auto& p : net.parameters()) g.params.push_back(p.grad().clone());
  if (input_grad) {
    g.x = x.grad().clone();
    g.y = y.grad().clone();
  }
  g.next_default = torch::rand({4});
  return g;
}

void expect_same_grads(const SegmentGrads& a, const SegmentGrads& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i)
    EXPECT_TRUE(torch::allclose(a.params[i], b.params[i], 1e-6, 1e-7)) << "parameter " << i;
  ASSERT_EQ(a.x.defined(), b.x.defined());
  if (a.x.defined()) {
    EXPECT_TRUE(torch::allclose(a.x, b.x, 1e-6, 1e-7));
    EXPECT_TRUE(torch::allclose(a.y, b.y, 1e-6, 1e-7));
  }
  // The recomputation put the default generator back: training draws continue unchanged.
  EXPECT_TRUE(torch::equal(a.next_default, b.next_default));
}

TEST(ActivationCheckpoint, DefaultGeneratorDropoutIsReplayed) {
  expect_same_grads(run_segment(false, c10::nullopt, true), run_segment(true, c10::nullopt, true));
}

TEST(ActivationCheckpoint, GivenGeneratorDropoutIsReplayed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(5);
  const SegmentGrads plain = run_segment(false, g, true);
  const at::Tensor after_plain = at::rand({3}, g);
  const SegmentGrads saved = run_segment(true, g, true);
  const at::Tensor after_saved = at::rand({3}, g);
  expect_same_grads(plain, saved);
  EXPECT_TRUE(torch::equal(after_plain, after_saved)) << "the given generator continues as it was";
}

// Without the replay the masks of the recomputation differ and so do the gradients: the test
// above can fail.
TEST(ActivationCheckpoint, AnUnreplayedGeneratorChangesTheGradients) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(5);
  const SegmentGrads plain = run_segment(false, g, true);
  CheckpointNet net;
  torch::manual_seed(11);
  g.set_current_seed(5);
  const at::Tensor x = torch::randn({3, 6}).requires_grad_(true);
  const at::Tensor y = torch::randn({3, 8}).requires_grad_(true);
  const Segment segment = [&](const std::vector<at::Tensor>& in) { return net.segment(in, g); };
  const auto out = checkpointed(net, segment, {x, y});  // g not named: not replayed
  (out[0].square().sum() + out[1].sum() * 0.5).backward();
  EXPECT_FALSE(torch::allclose(net.a->weight.grad(), plain.params[0], 1e-4, 1e-5));
}

// Inputs that need no gradient (a frozen front), weights that do: the weights still get theirs.
TEST(ActivationCheckpoint, TrainedWeightsBehindFrozenInputs) {
  expect_same_grads(run_segment(false, c10::nullopt, false), run_segment(true, c10::nullopt, false));
}

TEST(ActivationCheckpoint, NoGradModeRunsThePlainSegment) {
  CheckpointNet net;
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 6}), y = torch::randn({2, 8});
  int calls = 0;
  const Segment segment = [&](const std::vector<at::Tensor>& in) {
    ++calls;
    return std::vector<at::Tensor>{net.a(in[0]) + in[1]};
  };
  const auto out = checkpointed(net, segment, {x, y});
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(out[0].requires_grad());
}

}  // namespace
}  // namespace psam
