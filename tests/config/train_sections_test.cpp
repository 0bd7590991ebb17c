// The data:, loss: and train: sections of the run config.
#include <gtest/gtest.h>

#include <map>

#include "config/config.h"
#include "psam/util/error.h"
#include "support/testing.h"

namespace psam::config {
namespace {

std::string error_of(const std::vector<std::string>& overrides) {
  try {
    load<Config>("", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TrainSections, ReadFromFileAndOverrides) {
  support::TempDir dir;
  const std::string path = dir.write("exp.yaml", R"(
data:
  store: /data/synth
  loader: {batch_size: 4, annotators: all, intensity: minmax, prompt: majority, box_jitter: 0.1}
loss: {beta: 2.5, dice_mode: per_sample, kl_warmup_steps: 100}
train:
  optimizer: adamw
  lr: 3e-4
  betas: [0.8, 0.99]
  schedule: cosine
  warmup_steps: 50
  best_metric: val/ged
  best_mode: max
  embedding_cache: false
)");
  const Config c = load<Config>(path, {"train.epochs=3", "data.loader.workers=2"});
  EXPECT_EQ(c.data.store, "/data/synth");
  EXPECT_EQ(c.data.loader.batch_size, 4);
  EXPECT_EQ(c.data.loader.workers, 2);
  EXPECT_EQ(c.data.loader.annotators, data::AnnotatorMode::kAll);
  EXPECT_EQ(c.data.loader.intensity, data::IntensityMapping::kMinMax);
  EXPECT_EQ(c.data.loader.prompt, data::PromptSource::kMajority);
  EXPECT_DOUBLE_EQ(c.data.loader.box_jitter, 0.1);
  EXPECT_EQ(c.data.train_split, "train");
  EXPECT_EQ(c.loss.beta, std::optional<double>(2.5));
  EXPECT_EQ(c.loss.dice_mode, train::DiceMode::kPerSample);
  EXPECT_EQ(c.loss.kl_warmup_steps, 100);
  EXPECT_EQ(c.train.optimizer, train::OptimizerKind::kAdamW);
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_EQ(c.train.betas, (std::vector<double>{0.8, 0.99}));
  EXPECT_EQ(c.train.schedule, train::ScheduleKind::kCosine);
  EXPECT_EQ(c.train.warmup_steps, 50);
  EXPECT_EQ(c.train.epochs, 3);
  EXPECT_EQ(c.train.best_metric, "val/ged");
  EXPECT_EQ(c.train.best_mode, train::MetricMode::kMax);
  EXPECT_FALSE(c.train.embedding_cache);

  // The written config reads back to the same settings (same hash).
  const Config back = load<Config>(dir.write("back.yaml", to_yaml(c)));
  EXPECT_EQ(hash(back), hash(c));
  EXPECT_EQ(back.train.lr, c.train.lr);
}

// loss.beta is unset by default (the ELBO weight), and null in YAML or on the command line
// unsets a value that a base file gave.
TEST(TrainSections, BetaUnsetMeansTheElboWeight) {
  EXPECT_FALSE(load<Config>("").loss.beta.has_value());
  support::TempDir dir;
  const std::string base = dir.write("base.yaml", "loss: {beta: 10.0}\n");
  EXPECT_EQ(load<Config>(base).loss.beta, std::optional<double>(10.0));
  EXPECT_FALSE(load<Config>(base, {"loss.beta=null"}).loss.beta.has_value());
  EXPECT_FALSE(load<Config>(dir.write("child.yaml", "_base_: base.yaml\nloss: {beta: ~}\n"))
                   .loss.beta.has_value());
}

// The KL control's keys: none by default (every existing config unchanged), the values read
// back, bad values a one-line error naming the key.
TEST(TrainSections, KlControlKeys) {
  const Config plain = load<Config>("");
  EXPECT_EQ(plain.loss.kl_control, train::KlControl::kNone);
  EXPECT_DOUBLE_EQ(plain.loss.geco.kappa, 0.1);
  EXPECT_DOUBLE_EQ(plain.loss.geco.alpha, 0.99);
  const Config c =
      load<Config>("", {"loss.kl_control=geco", "loss.geco_kappa=0.25", "loss.geco_alpha=0.9",
                        "loss.geco_speed=0.5", "loss.geco_lambda_min=0.01",
                        "loss.geco_lambda_max=50", "loss.free_bits=0.5"});
  EXPECT_EQ(c.loss.kl_control, train::KlControl::kGeco);
  EXPECT_DOUBLE_EQ(c.loss.geco.kappa, 0.25);
  EXPECT_DOUBLE_EQ(c.loss.geco.alpha, 0.9);
  EXPECT_DOUBLE_EQ(c.loss.geco.speed, 0.5);
  EXPECT_DOUBLE_EQ(c.loss.geco.lambda_min, 0.01);
  EXPECT_DOUBLE_EQ(c.loss.geco.lambda_max, 50);
  EXPECT_DOUBLE_EQ(c.loss.free_bits, 0.5);
  EXPECT_NO_THROW(c.loss.validate());
  EXPECT_EQ(load<Config>("", {"loss.kl_control=free_bits"}).loss.kl_control,
            train::KlControl::kFreeBits);
  EXPECT_EQ(error_of({"loss.kl_control=beta"}),
            "command line: key 'loss.kl_control' expects one of none, geco, free_bits, got 'beta'");
  const auto invalid = [](const std::string& override) -> std::string {
    try {
      load<Config>("", {override}).loss.validate();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(invalid("loss.geco_alpha=1.5"), "loss: geco_alpha must be in [0, 1), got 1.5");
  EXPECT_EQ(invalid("loss.geco_speed=-1"), "loss: geco_speed must be > 0, got -1");
  EXPECT_EQ(invalid("loss.free_bits=-0.1"),
            "loss: free_bits must be >= 0 (nats per latent dimension), got -0.1");
  EXPECT_DOUBLE_EQ(plain.loss.energy_weight, 0);
  EXPECT_EQ(plain.loss.energy_samples, 4);
  const Config energy = load<Config>("", {"loss.energy_weight=0.5", "loss.energy_samples=6"});
  EXPECT_DOUBLE_EQ(energy.loss.energy_weight, 0.5);
  EXPECT_EQ(energy.loss.energy_samples, 6);
  EXPECT_EQ(invalid("loss.energy_samples=1"),
            "loss: energy_samples must be >= 2 (the spread term needs a pair), got 1");
  EXPECT_EQ(invalid("loss.energy_weight=-1"), "loss: energy_weight must be >= 0, got -1");
}

// train.lr_mult is a mapping of dotted part names: nested and dotted spellings, base files and
// overrides give the same flattened map, and it is written back so that it reads the same.
TEST(TrainSections, LrMultIsAMappingOfParts) {
  EXPECT_TRUE(load<Config>("").train.lr_mult.empty());
  support::TempDir dir;
  const std::string base = dir.write(
      "base.yaml", "train:\n  lr_mult: {sam.image_encoder: 0.1, prior: 10}\n  layer_decay: 0.75\n");
  const std::map<std::string, double> expected = {{"sam.image_encoder", 0.1}, {"prior", 10}};
  EXPECT_EQ(load<Config>(base).train.lr_mult, expected);
  EXPECT_DOUBLE_EQ(load<Config>(base).train.layer_decay, 0.75);
  const std::string nested =
      dir.write("nested.yaml", "train:\n  lr_mult:\n    sam: {image_encoder: 0.1}\n    prior: 10\n");
  EXPECT_EQ(load<Config>(nested).train.lr_mult, expected);
  // A child adds to and overrides its base's entries, as any mapping merges.
  const std::string child =
      dir.write("child.yaml", "_base_: base.yaml\ntrain: {lr_mult: {prior: 5, posterior: 2}}\n");
  const Config c = load<Config>(child, {"train.lr_mult.sam.mask_decoder=0.5"});
  const std::map<std::string, double> merged = {
      {"sam.image_encoder", 0.1}, {"prior", 5}, {"posterior", 2}, {"sam.mask_decoder", 0.5}};
  EXPECT_EQ(c.train.lr_mult, merged);
  const Config back = load<Config>(dir.write("back.yaml", to_yaml(c)));
  EXPECT_EQ(back.train.lr_mult, merged);
  EXPECT_EQ(hash(back), hash(c));
  EXPECT_TRUE(load<Config>(dir.write("null.yaml", "train: {lr_mult: ~}\n")).train.lr_mult.empty());
  EXPECT_EQ(error_of({"train.lr_mult=0.1"}),
            "command line: key 'train.lr_mult' expects a mapping of names to numbers, got '0.1'");
  EXPECT_EQ(error_of({"train.lr_mult.prior=fast"}),
            "command line: key 'train.lr_mult.prior' expects a number, got 'fast'");
}

TEST(TrainSections, Errors) {
  EXPECT_EQ(error_of({"train.optimiser=adam"}),
            "command line: unknown key 'train.optimiser' (did you mean 'train.optimizer'?)");
  EXPECT_EQ(error_of({"train.optimizer=rmsprop"}),
            "command line: key 'train.optimizer' expects one of adam, adamw, sgd, got 'rmsprop'");
  EXPECT_EQ(error_of({"train.lr=fast"}), "command line: key 'train.lr' expects a number, got 'fast'");
  EXPECT_EQ(error_of({"train.schedule=linear"}),
            "command line: key 'train.schedule' expects one of constant, step, cosine, got 'linear'");
  EXPECT_EQ(error_of({"data.loader.annotators=two"}),
            "command line: key 'data.loader.annotators' expects one of random_one, all, fixed, "
            "got 'two'");
  EXPECT_EQ(error_of({"batch_size=2"}),
            "command line: unknown key 'batch_size' (did you mean 'data.loader.batch_size'?)");
}

TEST(TrainSections, ValidateNamesTheField) {
  train::TrainConfig c;
  EXPECT_NO_THROW(c.validate());
  c.lr = 0;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.betas = {0.9};
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "train.betas must be two numbers in [0, 1)");
  }
  c = {};
  c.min_lr = 1.0;  // above lr
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace psam::config
