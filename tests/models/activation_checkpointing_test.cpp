// Activation checkpointing on every registered method: with each part checkpointed the
// training loss and every trained parameter's gradient equal those without (dropout masks
// replayed), and the autograd graph really holds checkpointed segments.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <string>
#include <unordered_set>

#include "models/tiny_methods.h"
#include "psam/models/registry.h"
#include "psam/train/loss.h"
#include "psam/util/error.h"

namespace psam::models {
namespace {

// Checkpointed segments in the graph behind `root` (their backward nodes name the function).
int64_t checkpoint_nodes(const at::Tensor& root) {
  std::vector<torch::autograd::Node*> stack = {root.grad_fn().get()};
  std::unordered_set<torch::autograd::Node*> seen;
  int64_t count = 0;
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    count += node->name().find("CheckpointFunction") != std::string::npos;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return count;
}

// Whether a parameter name lies in a checkpointable part.
bool in_part(const std::string& name, const std::string& part) {
  const std::string dotted = "." + name;
  if (part == "image_encoder") return dotted.find(".image_encoder.blocks.") != std::string::npos;
  if (part == "mask_decoder") return dotted.find(".transformer.layers.") != std::string::npos;
  for (const char* net : {".prior", ".posterior"}) {
    if (dotted.find(net) != std::string::npos) return true;
  }
  return false;
}

struct Outcome {
  double loss = 0;
  std::vector<std::pair<std::string, at::Tensor>> grads;
  int64_t segments = 0;
};

class Checkpointing : public test::MethodsOnStore<40, 24> {  // tall images
 protected:
  Outcome step(const ModelConfig& config, const ActivationCheckpointing* parts) {
    torch::manual_seed(1);
    auto model = build_model(config, torch::kCPU);
    if (parts) model->set_activation_checkpointing(*parts);
    model->module().train();
    data::LoaderOptions o = test::tiny_loader_options(true);
    const data::Batch batch = first_batch(*model, true, o);
    const auto loss = model->loss(batch, train::LossConfig{}, 0,
                                  at::make_generator<at::CPUGeneratorImpl>(5));
    Outcome out;
    out.loss = loss.total.item<double>();
    out.segments = checkpoint_nodes(loss.total);
    loss.total.backward();
    for (const auto& [name, p] : model->trainable_parameters())
      out.grads.emplace_back(name, p.grad().defined() ? p.grad().clone() : at::Tensor());
    return out;
  }
};

TEST_P(Checkpointing, GradientsEqualThoseWithout) {
  const std::string kind = GetParam();
  if (!registry_entry(kind).learns) GTEST_SKIP() << kind << " learns nothing";
  auto config = test::tiny_config_for(kind);
  ASSERT_TRUE(config) << "model.kind " << kind << " has no tiny config in tests/models/tiny_methods.h";
  // The encoder trains where the method allows it (adapters train inside a frozen one).
  if (kind == "prob_sam" || kind == "mc_dropout_sam") config->prob.trainable.image_encoder = true;
  const Outcome plain = step(*config, nullptr);
  EXPECT_EQ(plain.segments, 0);
  std::set<std::string> applied;
  for (const std::string part : {"image_encoder", "mask_decoder", "latent_nets"}) {
    ActivationCheckpointing parts;
    parts.image_encoder_stride = part == "image_encoder" ? 1 : 0;
    parts.mask_decoder = part == "mask_decoder";
    parts.latent_nets = part == "latent_nets";
    {
      torch::manual_seed(1);
      auto probe = build_model(*config, torch::kCPU);
      try {
        probe->set_activation_checkpointing(parts);
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("has no " + part), std::string::npos) << e.what();
        continue;  // the method has no such part
      }
    }
    const Outcome saved = step(*config, &parts);
    if (saved.segments == 0) {
      // Only a part without trained weights (usam's frozen SAM) is left as it is.
      for (const auto& [name, g] : plain.grads)
        EXPECT_FALSE(in_part(name, part)) << part << " holds the trained " << name;
      continue;
    }
    applied.insert(part);
    EXPECT_NEAR(saved.loss, plain.loss, 1e-6 * std::max(1.0, std::abs(plain.loss))) << part;
    ASSERT_EQ(saved.grads.size(), plain.grads.size());
    for (size_t i = 0; i < plain.grads.size(); ++i) {
      const auto& [name, g] = plain.grads[i];
      ASSERT_EQ(saved.grads[i].second.defined(), g.defined()) << part << ": " << name;
      if (!g.defined()) continue;
      const double scale = std::max(1e-3, g.abs().max().item<double>());
      EXPECT_LE((saved.grads[i].second - g).abs().max().item<double>(), 1e-5 * scale)
          << part << ": " << name;
    }
  }
  const bool trains_a_part = std::any_of(plain.grads.begin(), plain.grads.end(), [](const auto& g) {
    return in_part(g.first, "image_encoder") || in_part(g.first, "mask_decoder") ||
           in_part(g.first, "latent_nets");
  });
  EXPECT_EQ(!applied.empty(), trains_a_part) << kind;
}

INSTANTIATE_TEST_SUITE_P(Registry, Checkpointing, ::testing::ValuesIn(test::registered_kinds()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace psam::models
