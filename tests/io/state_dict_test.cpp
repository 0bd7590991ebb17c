#include "psam/io/state_dict.h"

#include <gtest/gtest.h>

#include "psam/util/error.h"

namespace psam {
namespace {

// A module with nesting, a buffer, a bias-free conv and a Sequential (numbered children).
struct ToyImpl : torch::nn::Module {
  ToyImpl() {
    scale = register_parameter("scale", torch::ones({3}));
    conv =
        register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 3, 1).bias(false)));
    stats = register_buffer("stats", torch::zeros({2}));
    seq = register_module("seq", torch::nn::Sequential(torch::nn::Linear(3, 4), torch::nn::ReLU(),
                                                       torch::nn::Linear(4, 2)));
  }
  torch::Tensor scale, stats;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Sequential seq{nullptr};
};
TORCH_MODULE(Toy);

std::string load_error(torch::nn::Module& m, const io::TensorDict& d, const std::string& prefix) {
  try {
    io::load_state_dict(m, d, prefix, "toy.pth");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StateDict, NamesFollowPyTorchOrder) {
  Toy toy;
  // PyTorch's state_dict(): a module's own parameters, its buffers, then each child in turn.
  const std::vector<std::string> expected = {
      "scale", "stats", "conv.weight", "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias"};
  EXPECT_EQ(io::state_dict(*toy).keys(), expected);
  EXPECT_EQ(io::state_dict(*toy, "m.").keys().front(), "m.scale");
}

TEST(StateDict, RoundTripCopiesValuesUnderPrefix) {
  Toy a, b;
  torch::manual_seed(3);
  io::TensorDict d;
  for (const auto& [name, t] : io::state_dict(*a, "model."))
    d.insert(name, torch::randn(t.sizes(), torch::kDouble));  // converted to the model's float
  d.insert("other.thing", torch::zeros({1}));                 // outside the prefix: ignored
  io::load_state_dict(*b, d, "model.");
  for (const auto& [name, t] : io::state_dict(*b, "model.")) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
    EXPECT_TRUE(t.equal(d.at(name).to(torch::kFloat))) << name;
  }
}

TEST(StateDict, StrictErrorListsEveryProblemAndCopiesNothing) {
  Toy toy;
  const auto before = toy->scale.clone();
  io::TensorDict d;
  for (const auto& [name, t] : io::state_dict(*toy)) {
    if (name == "stats") continue;                                // missing
    d.insert(name, name == "seq.2.weight" ? torch::zeros({2, 5})  // wrong shape
                                          : torch::full(t.sizes(), 7.0));
  }
  d.insert("seq.1.weight", torch::zeros({1}));  // unexpected
  const auto msg = load_error(*toy, d, "");
  EXPECT_NE(msg.find("toy.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing 1 [stats]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected 1 [seq.1.weight]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("seq.2.weight: 2x5 in file, 2x4 in model"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
  EXPECT_TRUE(toy->scale.equal(before)) << "a failed load must leave the module untouched";
}

TEST(StateDict, PrefixMissingEverythingIsReported) {
  Toy toy;
  io::TensorDict d;
  for (const auto& [name, t] : io::state_dict(*toy)) d.insert(name, t);
  const auto msg = load_error(*toy, d, "sam.");
  EXPECT_NE(msg.find("under prefix 'sam.'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing 7 [sam.scale"), std::string::npos) << msg;
}

}  // namespace
}  // namespace psam
