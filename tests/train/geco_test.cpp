// GECO (train/geco.h): the multiplier's update against a hand computation, its clamp, its
// config's errors, and ModelTask's loss under it (value, gradient, logged terms, state).
#include "psam/train/geco.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>

#include "psam/models/model.h"
#include "psam/train/model_task.h"
#include "psam/util/error.h"

namespace psam::train {
namespace {

std::string validate_error(const GecoConfig& c) {
  try {
    c.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// kappa 0.1, alpha 0.5, speed 2 on reconstructions 0.3, 0.2, 0.05:
//   C = 0.2, 0.1, -0.05;  C_ma = 0.2, 0.15, 0.05;  lambda = e^0.4, e^0.7, e^0.8.
TEST(Geco, UpdateMatchesAHandComputation) {
  GecoConfig c;
  c.kappa = 0.1;
  c.alpha = 0.5;
  c.speed = 2;
  GecoState s;
  const std::pair<double, double> expected[] = {{0.2, 0.4}, {0.15, 0.7}, {0.05, 0.8}};
  const double recs[] = {0.3, 0.2, 0.05};
  for (int i = 0; i < 3; ++i) {
    geco_update(s, c, recs[i] - c.kappa);
    EXPECT_NEAR(s.c_ma, expected[i].first, 1e-12) << "step " << i;
    EXPECT_NEAR(s.lambda, std::exp(expected[i].second), 1e-12) << "step " << i;
    EXPECT_EQ(s.updates, i + 1);
  }
}

// lambda stays in [lambda_min, lambda_max], and leaves a clamp as soon as C_ma changes sign.
TEST(Geco, LambdaIsClamped) {
  GecoConfig c;
  c.alpha = 0;  // C_ma = C
  c.speed = 1;
  c.lambda_min = 0.5;
  c.lambda_max = 2;
  GecoState s;
  geco_update(s, c, 0.6);
  EXPECT_NEAR(s.lambda, std::exp(0.6), 1e-12);
  geco_update(s, c, 0.6);
  EXPECT_EQ(s.lambda, 2.0);
  geco_update(s, c, -0.1);
  EXPECT_NEAR(s.lambda, 2 * std::exp(-0.1), 1e-12);
  for (int i = 0; i < 5; ++i) geco_update(s, c, -1.0);
  EXPECT_EQ(s.lambda, 0.5);
}

TEST(Geco, ConfigErrorsNameTheKey) {
  GecoConfig ok;
  EXPECT_EQ(validate_error(ok), "no error");
  GecoConfig c = ok;
  c.alpha = 1;
  EXPECT_EQ(validate_error(c), "loss: geco_alpha must be in [0, 1), got 1");
  c = ok;
  c.speed = 0;
  EXPECT_EQ(validate_error(c), "loss: geco_speed must be > 0, got 0");
  c = ok;
  c.kappa = std::nan("");
  EXPECT_EQ(validate_error(c), "loss: geco_kappa must be finite, got nan");
  c = ok;
  c.lambda_min = 2;
  EXPECT_EQ(validate_error(c), "loss: geco_lambda_min must be in (0, 1], got 2");
  c = ok;
  c.lambda_max = 0.5;
  EXPECT_EQ(validate_error(c), "loss: geco_lambda_max must be >= 1 and finite, got 0.5");
}

// A method whose loss is rec + w * kl on two leaves, reported as a latent method does.
class FixedTermsModel : public models::Model {
 public:
  FixedTermsModel(at::Tensor rec, at::Tensor kl, double w, bool latent)
      : Model(fixed_terms_config()), rec_(std::move(rec)), kl_(std::move(kl)), w_(w), latent_(latent) {}

  torch::nn::Module& module() override { return module_; }
  void prepare_loader(data::LoaderOptions&, bool) const override {}
  StepLoss loss(const data::Batch&, const LossConfig&, int64_t, at::Generator) override {
    StepLoss out;
    const at::Tensor kl_term = w_ * kl_;
    out.total = rec_ + kl_term;
    out.terms = {{"kl", kl_.detach()}};
    if (!latent_) return out;
    out.kl_term = kl_term;
    out.reconstruction = rec_.detach();
    return out;
  }
  models::CaseSamples sample(const data::Batch&, int64_t, at::Generator) override { return {}; }
  bool deterministic() const override { return !latent_; }
  std::vector<models::ExportPart> export_parts() const override { return {}; }
  io::TensorDict export_state(const std::string&) override { return {}; }
  void init_from_foreign(const io::TensorDict&, const std::string&) override {}

 private:
  static models::ModelConfig fixed_terms_config() {
    models::ModelConfig c;
    c.kind = "fixed_terms";
    return c;
  }
  torch::nn::Module module_;
  at::Tensor rec_, kl_;
  double w_;
  bool latent_;
};

double term(const StepLoss& loss, const std::string& name) {
  for (const auto& [n, v] : loss.terms) {
    if (n == name) return v.item<double>();
  }
  ADD_FAILURE() << "no term " << name;
  return 0;
}

// Under GECO with lambda 4, rec 0.3, KL 2 at weight 0.5: total = 0.3 + 0.5 * 2 / 4 = 0.55,
// d total / d rec = 1, d total / d KL = 0.5 / 4; the step logs C = 0.3 - kappa and lambda, and
// after_step moves lambda by exp(speed * C) (first step: C_ma = C).
TEST(Geco, ModelTaskScalesTheKlTerm) {
  const auto rec = torch::tensor(0.3, torch::kDouble).requires_grad_();
  const auto kl = torch::tensor(2.0, torch::kDouble).requires_grad_();
  FixedTermsModel model(rec, kl, 0.5, /*latent=*/true);
  LossConfig config;
  config.kl_control = KlControl::kGeco;
  config.geco.kappa = 0.1;
  config.geco.speed = 3;
  ModelTask task(model, config);
  task.load_state({{"geco_lambda", 4.0}, {"geco_c_ma", 0.0}, {"geco_updates", 0.0}});
  const StepLoss loss = task.loss(data::Batch{}, 0, at::Generator());
  EXPECT_NEAR(loss.total.item<double>(), 0.55, 1e-12);
  loss.total.backward();
  EXPECT_NEAR(rec.grad().item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(kl.grad().item<double>(), 0.125, 1e-12);
  EXPECT_NEAR(term(loss, "geco_c"), 0.2, 1e-12);
  EXPECT_EQ(term(loss, "geco_lambda"), 4.0);

  task.after_step({{"loss", 0.55}, {"geco_c", 0.2}, {"geco_lambda", 4.0}});
  EXPECT_NEAR(task.geco().lambda, 4 * std::exp(3 * 0.2), 1e-12);
  EXPECT_NEAR(task.geco().c_ma, 0.2, 1e-15);
  const NamedValues state = task.state();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0], (std::pair<std::string, double>{"geco_lambda", task.geco().lambda}));
  EXPECT_EQ(state[2], (std::pair<std::string, double>{"geco_updates", 1.0}));

  // A checkpoint without GECO's state starts it afresh.
  task.load_state({});
  EXPECT_EQ(task.geco().lambda, 1.0);
  EXPECT_EQ(task.geco().updates, 0);
}

// kl_control none leaves the method's loss as it is; a control on a method without a latent KL
// is an error naming the key and the method.
TEST(Geco, NoneIsUntouchedAndADeterministicMethodIsRefused) {
  const auto rec = torch::tensor(0.3, torch::kDouble);
  const auto kl = torch::tensor(2.0, torch::kDouble);
  FixedTermsModel latent(rec, kl, 0.5, /*latent=*/true);
  ModelTask plain(latent, LossConfig{});
  const StepLoss loss = plain.loss(data::Batch{}, 0, at::Generator());
  EXPECT_EQ(loss.total.item<double>(), 0.3 + 0.5 * 2.0);
  EXPECT_EQ(loss.terms.size(), 1u);
  EXPECT_TRUE(plain.state().empty());

  FixedTermsModel deterministic(rec, kl, 0.5, /*latent=*/false);
  LossConfig config;
  config.kl_control = KlControl::kFreeBits;
  ModelTask task(deterministic, config);
  try {
    task.loss(data::Batch{}, 0, at::Generator());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "loss.kl_control free_bits: method fixed_terms has no latent KL term to control");
  }
  // The energy score needs a method that scores its prior's samples.
  LossConfig energy;
  energy.energy_weight = 1;
  ModelTask latent_task(latent, energy);
  try {
    latent_task.loss(data::Batch{}, 0, at::Generator());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "loss.energy_weight: method fixed_terms has no prior samples to score (prob_sam "
                 "with a latent net has)");
  }
}

}  // namespace
}  // namespace psam::train
