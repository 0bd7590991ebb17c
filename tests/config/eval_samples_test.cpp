// eval.samples: one count or a list of counts (several sample counts in one evaluation).
#include <gtest/gtest.h>

#include "config/config.h"
#include "psam/util/error.h"

namespace psam::config {
namespace {

std::string samples_error(const std::vector<std::string>& overrides) {
  try {
    load<Config>("", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(EvalSamples, OneCountOrAListOfCounts) {
  const Config one = load<Config>("", {"eval.samples=32"});
  EXPECT_EQ(one.eval.samples, 32);
  EXPECT_TRUE(one.eval.sample_counts.empty());
  EXPECT_NE(to_yaml(one).find("samples: 32\n"), std::string::npos);

  const Config several = load<Config>("", {"eval.samples=[16, 100, 32]"});
  EXPECT_EQ(several.eval.samples, 100);
  EXPECT_EQ(several.eval.scored_counts(), (std::vector<int64_t>{16, 32, 100}));
  // Written back as given, and read back the same.
  const std::string yaml = to_yaml(several);
  EXPECT_NE(yaml.find("samples: [16, 100, 32]"), std::string::npos) << yaml;
  EXPECT_EQ(hash(several), hash(load<Config>("", {"eval.samples=[16, 100, 32]"})));
  EXPECT_NE(hash(several), hash(one));
  // A one-element list is one count.
  EXPECT_TRUE(load<Config>("", {"eval.samples=[8]"}).eval.sample_counts.empty());
}

TEST(EvalSamples, BadValuesAreOneLineErrors) {
  EXPECT_EQ(samples_error({"eval.samples=[]"}),
            "command line: key 'eval.samples' expects an integer or a list of integers, got an "
            "empty list");
  EXPECT_EQ(samples_error({"eval.samples=[4, x]"}),
            "command line: key 'eval.samples[1]' expects an integer, got 'x'");
  EXPECT_EQ(samples_error({"eval.samples=many"}),
            "command line: key 'eval.samples' expects an integer or a list of integers, got "
            "'many'");
  Config c = load<Config>("", {"eval.samples=[0, 4]"});
  try {
    c.eval.validate();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "eval.samples: every sample count must lie in [1, 4], got 0");
  }
}

}  // namespace
}  // namespace psam::config
