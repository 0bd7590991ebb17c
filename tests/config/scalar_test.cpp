// YAML scalar typing (the YAML 1.2 core schema), float text that reads back exactly, quoting,
// and the edit distance behind "did you mean".
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "config/scalar.h"
#include "config/suggest.h"

namespace psam::config {
namespace {

TEST(Scalar, CoreSchemaResolution) {
  for (const char* text : {"", "~", "null", "Null", "NULL"}) {
    EXPECT_EQ(resolve_plain(text), ScalarKind::kNull) << text;
  }
  for (const char* text : {"true", "True", "TRUE", "false", "False", "FALSE"}) {
    EXPECT_EQ(resolve_plain(text), ScalarKind::kBool) << text;
  }
  for (const char* text : {"0", "-12", "+3", "0o17", "0x1F"}) {
    EXPECT_EQ(resolve_plain(text), ScalarKind::kInt) << text;
  }
  for (const char* text : {"1.5", "1e-4", "-1E+3", ".5", "5.", "+.inf", "-.Inf", ".NaN"}) {
    EXPECT_EQ(resolve_plain(text), ScalarKind::kFloat) << text;
  }
  // YAML 1.1 forms that the 1.2 core schema reads as strings.
  for (const char* text :
       {"yes", "on", "1_000", "0b101", "1:30", "nan", "inf", "e5", "1e", "tRue"}) {
    EXPECT_EQ(resolve_plain(text), ScalarKind::kString) << text;
  }
}

TEST(Scalar, IntegersAndTheirRange) {
  EXPECT_EQ(parse_int("0x1F"), 31);
  EXPECT_EQ(parse_int("0o17"), 15);
  EXPECT_EQ(parse_int("+42"), 42);
  EXPECT_EQ(parse_int("-9223372036854775808"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(parse_int("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_int("1.0"), std::nullopt);
  EXPECT_EQ(parse_bool("True"), true);
  EXPECT_EQ(parse_bool("FALSE"), false);
  EXPECT_EQ(parse_bool("yes"), std::nullopt);
}

TEST(Scalar, FloatTextIsShortestAndReadsBackExactly) {
  EXPECT_EQ(format_float(1.0), "1.0");
  EXPECT_EQ(format_float(0.1), "0.1");
  EXPECT_EQ(format_float(1e-5), "1.0e-05");  // PyYAML needs the dot and the signed exponent
  EXPECT_EQ(format_float(1.5e300), "1.5e+300");
  EXPECT_EQ(format_float(-0.0), "-0.0");
  EXPECT_EQ(format_float(0.1f), "0.1");
  EXPECT_EQ(format_float(-std::numeric_limits<double>::infinity()), "-.inf");

  std::mt19937_64 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (std::isnan(d)) continue;
    const auto back = parse_float<double>(format_float(d));
    ASSERT_TRUE(back) << format_float(d);
    ASSERT_EQ(std::memcmp(&*back, &d, sizeof(d)), 0) << format_float(d);
    ASSERT_EQ(resolve_plain(format_float(d)), ScalarKind::kFloat) << format_float(d);

    float f;
    const uint32_t fbits = static_cast<uint32_t>(bits);
    std::memcpy(&f, &fbits, sizeof(f));
    if (std::isnan(f)) continue;
    const auto fback = parse_float<float>(format_float(f));
    ASSERT_TRUE(fback) << format_float(f);
    ASSERT_EQ(std::memcmp(&*fback, &f, sizeof(f)), 0) << format_float(f);
  }
}

TEST(Scalar, QuotingKeepsStringsStrings) {
  for (const char* text : {"", "~", "null", "true", "No", "on", "12", "1e-4", ".5", "-3", "0x1F",
                           "1_000", "2024-01-01", "=", "<<"}) {
    EXPECT_TRUE(needs_quotes(text)) << text;
  }
  for (const char* text : {"runs", "vit_b", "a-b", "sdpa", "lidc idri"}) {
    EXPECT_FALSE(needs_quotes(text)) << text;
  }
}

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("optimiser", "optimizer"), 1u);
  EXPECT_EQ(edit_distance("lr", "rl"), 1u);  // a swap of neighbours is one edit
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Suggest, ClosestKey) {
  const std::vector<std::string> keys = {"run",   "run.seed",        "run.threads",
                                         "train", "train.optimizer", "train.lr"};
  EXPECT_EQ(closest_key("train.optimiser", keys), "train.optimizer");
  EXPECT_EQ(closest_key("seed", keys), "run.seed");  // right name, wrong level
  EXPECT_EQ(closest_key("trian", keys), "train");
  EXPECT_EQ(closest_key("train.threads", keys), "run.threads");
  EXPECT_EQ(closest_key("run.lr", keys), "train.lr");
  EXPECT_EQ(closest_key("x", {}), "");
  // Other tools' names for a setting, and their typos, find psam's key rather than a look-alike.
  const std::vector<std::string> train = {"train.warmup_steps", "train.embedding_cache",
                                          "train.lr", "train.epochs", "data.loader.batch_size"};
  EXPECT_EQ(closest_key("train.learning_rate", train), "train.lr");
  EXPECT_EQ(closest_key("train.learnig_rate", train), "train.lr");
  EXPECT_EQ(closest_key("train.num_epochs", train), "train.epochs");
  EXPECT_EQ(closest_key("train.batch_size", train), "data.loader.batch_size");
  // Beyond 64 characters a key's tail does not count: its head still finds the key meant.
  EXPECT_EQ(closest_key("train.optimiser" + std::string(100000, '\xff'), keys), "train.optimizer");
  EXPECT_EQ(closest_key("run.thredas" + std::string(70, 'q'), keys), "run.threads");
}

}  // namespace
}  // namespace psam::config
