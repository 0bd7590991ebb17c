#include "psam/data/store/splits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/data_test_util.h"
#include "psam/data/store/check.h"
#include "psam/util/error.h"

namespace psam::data {
namespace {

// `patients` patients with 1..4 slices each.
std::vector<SampleMeta> cohort(int patients) {
  std::vector<SampleMeta> meta;
  for (int p = 0; p < patients; ++p)
    for (int s = 0; s <= p % 4; ++s) {
      SampleMeta m;
      m.id = "p" + std::to_string(p) + "-s" + std::to_string(s);
      m.patient_id = "patient-" + std::to_string(p);
      meta.push_back(m);
    }
  return meta;
}

const std::vector<std::string>& set_of(const Splits& s, const std::string& name) {
  for (const auto& [n, ids] : s.sets)
    if (n == name) return ids;
  throw std::runtime_error("no set " + name);
}

TEST(Splits, PatientSplitPartitionsPatientsByFraction) {
  const auto meta = cohort(100);
  const Splits s = make_splits(meta, SplitOptions{});
  EXPECT_EQ(s.unit, "patient");
  ASSERT_EQ(s.sets.size(), 3u);
  EXPECT_EQ(s.sets[0].first, "train");
  EXPECT_EQ(set_of(s, "train").size(), 60u);
  EXPECT_EQ(set_of(s, "val").size(), 20u);
  EXPECT_EQ(set_of(s, "test").size(), 20u);
  std::set<std::string> all;
  for (const auto& [name, ids] : s.sets)
    for (const auto& id : ids) EXPECT_TRUE(all.insert(id).second) << id << " twice";
  EXPECT_EQ(all.size(), 100u);
}

TEST(Splits, SeededAndIndependentOfSampleOrder) {
  auto meta = cohort(50);
  const Splits a = make_splits(meta, SplitOptions{});
  std::reverse(meta.begin(), meta.end());
  const Splits b = make_splits(meta, SplitOptions{});
  EXPECT_EQ(a.sets, b.sets);
  SplitOptions other;
  other.seed = 7;
  EXPECT_NE(make_splits(meta, other).sets, a.sets);
}

TEST(Splits, LargestRemainderAndEverySetGetsAUnit) {
  // 7 units at 0.6/0.2/0.2 -> 4.2/1.4/1.4: floors 4, 1, 1; the last unit goes to the largest
  // remainder (val and test tie at 0.4; the first listed wins).
  Splits s = make_splits(cohort(7), SplitOptions{});
  EXPECT_EQ(set_of(s, "train").size(), 4u);
  EXPECT_EQ(set_of(s, "val").size(), 2u);
  EXPECT_EQ(set_of(s, "test").size(), 1u);
  // 3 units: floors give 1/0/0; every set with a share still gets one.
  s = make_splits(cohort(3), SplitOptions{});
  for (const auto& [name, ids] : s.sets) EXPECT_EQ(ids.size(), 1u) << name;
  SplitOptions o;
  o.fractions = {{"train", 1}, {"test", 0}};
  s = make_splits(cohort(5), o);
  EXPECT_EQ(set_of(s, "train").size(), 5u);
  EXPECT_TRUE(set_of(s, "test").empty());
}

TEST(Splits, ImageLevelSplitCoversSamplesAndSaysItLeaks) {
  const auto meta = cohort(40);
  SplitOptions o;
  o.unit = "image";
  const Splits s = make_splits(meta, o);
  size_t total = 0;
  for (const auto& [name, ids] : s.sets) total += ids.size();
  EXPECT_EQ(total, meta.size());
  EXPECT_NE(s.description.find("leaks patients"), std::string::npos);
}

TEST(Splits, RejectsBadOptions) {
  SplitOptions o;
  o.unit = "slice";
  EXPECT_THROW(make_splits(cohort(3), o), Error);
  o = SplitOptions{};
  o.fractions = {{"train", 0.5}, {"train", 0.5}};
  EXPECT_THROW(make_splits(cohort(3), o), Error);
  o.fractions = {{"train", -1}, {"test", 2}};
  EXPECT_THROW(make_splits(cohort(3), o), Error);
  o.fractions = {{"train", 0}};
  EXPECT_THROW(make_splits(cohort(3), o), Error);
}

}  // namespace
}  // namespace psam::data
