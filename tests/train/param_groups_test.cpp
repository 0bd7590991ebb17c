// Parameter groups: lr multipliers by part, layer-wise decay, weight-decay exemptions, and the
// optimiser's per-group update against torch.optim's param groups.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "psam/train/optimizer.h"
#include "psam/train/param_groups.h"
#include "psam/util/error.h"
#include "sine_steps.h"
#include "support/testing.h"

namespace psam::train {
namespace {

NamedParameters grouped_params(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes) {
  NamedParameters out;
  for (const auto& [name, shape] : shapes) out.emplace_back(name, torch::zeros(shape));
  return out;
}

std::string groups_error(const NamedParameters& params, const TrainConfig& c) {
  try {
    resolve_param_options(params, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A ViT encoder of depth 3 (blocks 0 and 2 trained), its neck, a decoder and two latent nets.
// The expected multipliers are written out from the rules: image_encoder 0.1, its neck 2 (the
// longer key wins), prior 10 (not posterior: keys match whole components), and layer decay 0.5
// with embeddings at 0.5^4, block i at 0.5^(3 - i), the neck at 1.
TEST(ParamGroups, ResolvedOptionsFollowTheRules) {
  const NamedParameters params = grouped_params({
      {"sam.image_encoder.patch_embed.proj.weight", {4, 3, 2, 2}},
      {"sam.image_encoder.pos_embed", {1, 2, 2, 4}},
      {"sam.image_encoder.blocks.0.attn.rel_pos_h", {3, 2}},
      {"sam.image_encoder.blocks.0.attn.qkv.weight", {12, 4}},
      {"sam.image_encoder.blocks.0.norm1.weight", {4}},
      {"sam.image_encoder.blocks.2.mlp.lin1.bias", {8}},
      {"sam.image_encoder.neck.0.weight", {4, 4, 1, 1}},
      {"sam.mask_decoder.iou_token.weight", {1, 4}},
      {"prior.encoder.fc.weight", {3, 4}},
      {"posterior.encoder.fc.weight", {3, 4}},
  });
  TrainConfig c;
  c.weight_decay = 0.05;
  c.lr_mult = {{"image_encoder", 0.1}, {"sam.image_encoder.neck", 2}, {"prior", 10}};
  c.layer_decay = 0.5;
  c.weight_decay_exempt = true;
  const std::vector<double> mult = {0.1 * 0.0625, 0.1 * 0.0625, 0.1 * 0.125, 0.1 * 0.125,
                                    0.1 * 0.125,  0.1 * 0.5,    2.0,         1.0,
                                    10.0,         1.0};
  const std::vector<double> decay = {0.05, 0, 0, 0.05, 0, 0, 0.05, 0.05, 0.05, 0.05};
  const auto options = resolve_param_options(params, c);
  ASSERT_EQ(options.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_DOUBLE_EQ(options[i].lr_mult, mult[i]) << params[i].first;
    EXPECT_DOUBLE_EQ(options[i].weight_decay, decay[i]) << params[i].first;
  }
  // The switch off: every parameter decays; no lr_mult and no layer decay: every multiplier 1.
  c.weight_decay_exempt = false;
  c.lr_mult.clear();
  c.layer_decay = 1;
  for (const ParamOptions& o : resolve_param_options(params, c)) {
    EXPECT_EQ(o.lr_mult, 1.0);
    EXPECT_EQ(o.weight_decay, 0.05);
  }
  // The table: one row per distinct (multiplier, weight decay), parts listed.
  c.lr_mult = {{"prior", 10}};
  const std::string table = param_groups_table(params, resolve_param_options(params, c));
  std::istringstream lines(table);
  std::string header, first, second, extra;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_FALSE(std::getline(lines, extra)) << table;
  EXPECT_NE(first.find("sam.image_encoder.blocks.0, sam.image_encoder.blocks.2"), std::string::npos)
      << table;
  EXPECT_NE(second.find("10"), std::string::npos) << table;
  EXPECT_NE(second.find("prior.encoder"), std::string::npos) << table;
}

TEST(ParamGroups, KeysThatMatchNothingOrTieAreErrors) {
  const NamedParameters params = grouped_params({{"sam.image_encoder.blocks.0.attn.qkv.weight", {4, 4}},
                                        {"prior.fc.weight", {2, 2}}});
  TrainConfig c;
  c.lr_mult = {{"encoder", 0.1}};
  EXPECT_EQ(groups_error(params, c),
            "train.lr_mult: 'encoder' matches no trained parameter; the trained parts start "
            "with: sam.image_encoder, prior.fc");
  c.lr_mult = {{"image_encoder", 0.1}, {"blocks", 2}};
  EXPECT_EQ(groups_error(params, c),
            "train.lr_mult: keys 'blocks' and 'image_encoder' both match "
            "'sam.image_encoder.blocks.0.attn.qkv.weight'; make one longer (more name "
            "components) to say which applies");
  c.lr_mult = {{"image_encoder.blocks", 2}, {"image_encoder", 0.1}};
  EXPECT_EQ(resolve_param_options(params, c)[0].lr_mult, 2.0);
}

// "a.weight" (2-D) at lr x 0.1 with weight decay, "b.bias" (1-D, exempt) at lr x 10 without.
std::vector<float> run_grouped(OptimizerKind kind) {
  TrainConfig c;
  c.optimizer = kind;
  c.lr = 0.05;
  c.weight_decay = 0.1;
  c.betas = {0.8, 0.95};
  c.eps = 1e-6;
  c.momentum = 0.7;
  c.lr_mult = {{"a", 0.1}, {"b", 10}};
  c.weight_decay_exempt = true;
  return test_sine::five_steps(
      {{"a.weight", torch::tensor({{0.5f}, {-1.0f}, {2.0f}}).requires_grad_()},
       {"b.bias", torch::tensor({0.25f, -0.75f}).requires_grad_()}},
      c);
}

TEST(ParamGroups, OptimizerMatchesTorchParamGroups) {
  if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  support::TempDir dir;
  const std::string script = dir.write("groups.py", R"(
import torch
adam = dict(betas=(0.8, 0.95), eps=1e-6)
for cls, options in ((torch.optim.Adam, adam), (torch.optim.AdamW, adam),
                     (torch.optim.SGD, dict(momentum=0.7))):
    a = torch.tensor([[0.5], [-1.0], [2.0]], requires_grad=True)
    b = torch.tensor([0.25, -0.75], requires_grad=True)
    opt = cls([dict(params=[a], lr=0.005, weight_decay=0.1),
               dict(params=[b], lr=0.5, weight_decay=0.0)], **options)
    for t in range(5):
        opt.zero_grad()
        loss = sum((-torch.cos(3 * p + t) / 3).sum() for p in (a, b))
        loss.backward()
        opt.step()
    print(' '.join('%.9g' % v for v in torch.cat([a.detach().flatten(), b.detach().flatten()]).tolist()))
)");
  test_sine::expect_torch_values(support::run_python(script), run_grouped);
}

}  // namespace
}  // namespace psam::train
