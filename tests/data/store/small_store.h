// A small grey store written through DatasetWriter, shared by the store tests and the
// `psam data check` CLI tests.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/data_test_util.h"
#include "psam/data/store/store.h"

namespace psam::data::test_store {

inline DatasetInfo grey_info(int64_t n, int64_t k, int64_t h, int64_t w) {
  DatasetInfo info = test::hu_info(n, k, h, w);
  info.provenance_json = R"({"source": "store_test"})";
  return info;
}

inline SampleMeta sample_meta(int64_t i, const std::string& patient) {
  SampleMeta m;
  m.id = "s" + std::to_string(i);
  m.patient_id = patient;
  m.series_uid = "1.2.3." + std::to_string(i);
  if (i % 2 == 0) m.z = -10.5 * i;
  m.extra_json = "{\"nodule\": " + std::to_string(i % 3) + "}";
  return m;
}

inline Splits two_set_split(const std::vector<std::string>& train, const std::vector<std::string>& test) {
  Splits s;
  s.sets = {{"train", train}, {"test", test}};
  return s;
}

// Writes a 5-sample grey store (3 annotators, 6x8) and returns what was written.
struct Written {
  at::Tensor images, masks;
  std::vector<SampleMeta> meta;
};
inline Written write_small_store(const std::string& dir) {
  Written w;
  w.images = torch::randn({5, 6, 8}) * 300 - 500;
  w.masks = torch::rand({5, 3, 6, 8}).gt(0.6).to(torch::kByte);
  w.masks[1][2].zero_();
  const std::vector<std::string> patients{"p0", "p0", "p1", "p2", "p2"};
  for (int64_t i = 0; i < 5; ++i) w.meta.push_back(sample_meta(i, patients[i]));
  DatasetWriter writer(dir, grey_info(5, 3, 6, 8));
  writer.add(w.images[0], w.masks[0], w.meta[0]);
  writer.add_batch(w.images.slice(0, 1), w.masks.slice(0, 1),
                   std::vector<SampleMeta>(w.meta.begin() + 1, w.meta.end()));
  writer.commit(two_set_split({"p0", "p2"}, {"p1"}));
  return w;
}

}  // namespace psam::data::test_store
