#include "psam/train/checkpoint.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <fmt/format.h>

#include "psam/io/pth.h"
#include "psam/util/error.h"

namespace psam::train {
namespace {

using Dict = c10::impl::GenericDict;

Dict new_dict() { return Dict(c10::StringType::get(), c10::AnyType::get()); }

Dict tensor_dict(const io::TensorDict& tensors) {
  Dict d(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) d.insert(name, tensor.detach().cpu());
  return d;
}

// Reads entries of a checkpoint dict with errors that name the file and the entry.
class Reader {
 public:
  Reader(const c10::IValue& value, std::string path, std::string where)
      : path_(std::move(path)), where_(std::move(where)) {
    PSAM_CHECK(value.isGenericDict(),
               fmt::format("{}: checkpoint entry '{}' should be a dict", path_, where_));
    dict_ = value.toGenericDict();
  }
  const c10::IValue& get(const std::string& key) const {
    const auto it = dict_.find(key);
    PSAM_CHECK(it != dict_.end(), fmt::format("{}: not a psam training checkpoint: no '{}'",
                                              path_, name(key)));
    return it->value();
  }
  bool has(const std::string& key) const { return dict_.contains(key); }
  Reader child(const std::string& key) const { return Reader(get(key), path_, name(key)); }
  int64_t integer(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isInt(), fmt::format("{}: '{}' should be an integer", path_, name(key)));
    return v.toInt();
  }
  double number(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isDouble() || v.isInt(),
               fmt::format("{}: '{}' should be a number", path_, name(key)));
    return v.isDouble() ? v.toDouble() : static_cast<double>(v.toInt());
  }
  std::string string(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isString(), fmt::format("{}: '{}' should be a string", path_, name(key)));
    return v.toStringRef();
  }
  at::Tensor tensor(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isTensor(), fmt::format("{}: '{}' should be a tensor", path_, name(key)));
    return v.toTensor();
  }
  bool boolean(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isBool(), fmt::format("{}: '{}' should be a bool", path_, name(key)));
    return v.toBool();
  }
  std::vector<std::string> strings(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isList(), fmt::format("{}: '{}' should be a list of strings", path_, name(key)));
    std::vector<std::string> out;
    for (const auto& item : v.toListRef()) {
      PSAM_CHECK(item.isString(), fmt::format("{}: '{}' should hold strings", path_, name(key)));
      out.push_back(item.toStringRef());
    }
    return out;
  }
  std::vector<at::Tensor> tensor_list(const std::string& key) const {
    const auto& v = get(key);
    PSAM_CHECK(v.isList(), fmt::format("{}: '{}' should be a list of tensors", path_, name(key)));
    std::vector<at::Tensor> out;
    for (const auto& item : v.toListRef()) {
      PSAM_CHECK(item.isTensor(), fmt::format("{}: '{}' should hold tensors", path_, name(key)));
      out.push_back(item.toTensor());
    }
    return out;
  }
  io::TensorDict tensors(const std::string& key) const {
    io::TensorDict out;
    for (const auto& entry : child(key).dict_) {
      PSAM_CHECK(entry.key().isString() && entry.value().isTensor(),
                 fmt::format("{}: '{}' should map names to tensors", path_, name(key)));
      out.insert(entry.key().toStringRef(), entry.value().toTensor());
    }
    return out;
  }
  std::vector<std::pair<std::string, double>> numbers(const std::string& key) const {
    std::vector<std::pair<std::string, double>> out;
    const Reader sub = child(key);
    for (const auto& entry : sub.dict_) out.emplace_back(entry.key().toStringRef(), 0.0);
    for (auto& [k, v] : out) v = sub.number(k);
    return out;
  }

 private:
  std::string name(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }
  std::string path_, where_;
  Dict dict_ = new_dict();
};

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const TrainState& s = c.state;
  Dict optimizer = new_dict();
  optimizer.insert("kind", c.optimizer_kind);
  optimizer.insert("state", tensor_dict(c.optimizer));
  Dict scheduler = new_dict();
  scheduler.insert("kind", c.schedule_kind);
  scheduler.insert("lr", c.lr);
  Dict loader = new_dict();
  loader.insert("epoch", s.loader.epoch);
  loader.insert("batch", s.loader.batch);
  Dict rng = new_dict();
  rng.insert("cpu", c.rng_cpu);
  rng.insert("train", c.rng_train);
  if (c.rng_cuda.defined()) rng.insert("cuda", c.rng_cuda);
  if (!c.rng_train_ranks.empty()) {
    rng.insert("cpu_ranks", c10::List<at::Tensor>(c.rng_cpu_ranks));
    rng.insert("train_ranks", c10::List<at::Tensor>(c.rng_train_ranks));
  }
  Dict sums = new_dict();
  for (const auto& [term, sum] : s.epoch_sums) sums.insert(term, sum);
  Dict best = new_dict();
  best.insert("metric", s.best.metric);
  best.insert("value", s.best.value);
  best.insert("epoch", s.best.epoch);
  best.insert("stale", s.best.stale);
  Dict train = new_dict();
  train.insert("nonfinite_in_a_row", s.nonfinite_in_a_row);
  train.insert("epoch_batches", s.epoch_batches);
  train.insert("epoch_sums", sums);
  train.insert("best", best);
  const AccumulationState& a = s.accumulation;
  if (a.micro > 0) {
    Dict group_sums = new_dict();
    for (const auto& [term, sum] : a.sums) group_sums.insert(term, sum);
    Dict accumulation = new_dict();
    accumulation.insert("micro", a.micro);
    accumulation.insert("samples", a.samples);
    accumulation.insert("sums", group_sums);
    accumulation.insert("nonfinite", a.nonfinite);
    accumulation.insert("ids", c10::List<std::string>(a.ids));
    train.insert("accumulation", accumulation);
  }

  Dict root = new_dict();
  root.insert("model", tensor_dict(c.model));
  root.insert("optimizer", optimizer);
  if (!c.grads.empty()) root.insert("grads", tensor_dict(c.grads));
  if (!c.ema.empty()) root.insert("ema", tensor_dict(c.ema));
  if (!c.task.empty()) {
    Dict task = new_dict();
    for (const auto& [name, value] : c.task) task.insert(name, value);
    root.insert("task", task);
  }
  if (c.scaler_scale > 0) {
    Dict scaler = new_dict();
    scaler.insert("scale", c.scaler_scale);
    scaler.insert("growth_tracker", c.scaler_growth_tracker);
    root.insert("scaler", scaler);
  }
  root.insert("scheduler", scheduler);
  root.insert("epoch", s.epoch);
  root.insert("step", s.step);
  root.insert("loader", loader);
  root.insert("rng", rng);
  root.insert("train", train);
  root.insert("config_hash", c.config_hash);
  if (!c.model_config.empty()) root.insert("model_config", c.model_config);
  if (!c.preprocessing.empty()) root.insert("preprocessing", c.preprocessing);
  io::write_pth(path, c10::IValue(root));
}

Checkpoint read_checkpoint(const std::string& path) {
  const Reader root(io::read_pth(path), path, "");
  Checkpoint c;
  c.model = root.tensors("model");
  const Reader optimizer = root.child("optimizer");
  c.optimizer_kind = optimizer.string("kind");
  c.optimizer = optimizer.tensors("state");
  const Reader scheduler = root.child("scheduler");
  c.schedule_kind = scheduler.string("kind");
  c.lr = scheduler.number("lr");
  TrainState& s = c.state;
  s.epoch = root.integer("epoch");
  s.step = root.integer("step");
  const Reader loader = root.child("loader");
  s.loader.epoch = loader.integer("epoch");
  s.loader.batch = loader.integer("batch");
  const Reader rng = root.child("rng");
  c.rng_cpu = rng.tensor("cpu");
  c.rng_train = rng.tensor("train");
  if (rng.has("cuda")) c.rng_cuda = rng.tensor("cuda");
  if (rng.has("train_ranks")) {
    c.rng_cpu_ranks = rng.tensor_list("cpu_ranks");
    c.rng_train_ranks = rng.tensor_list("train_ranks");
  }
  const Reader train = root.child("train");
  s.nonfinite_in_a_row = train.integer("nonfinite_in_a_row");
  s.epoch_batches = train.integer("epoch_batches");
  s.epoch_sums = train.numbers("epoch_sums");
  const Reader best = train.child("best");
  s.best.metric = best.string("metric");
  s.best.value = best.number("value");
  s.best.epoch = best.integer("epoch");
  s.best.stale = best.integer("stale");
  if (train.has("accumulation")) {
    const Reader a = train.child("accumulation");
    s.accumulation.micro = a.integer("micro");
    s.accumulation.samples = a.integer("samples");
    s.accumulation.sums = a.numbers("sums");
    s.accumulation.nonfinite = a.boolean("nonfinite");
    s.accumulation.ids = a.strings("ids");
  }
  if (root.has("grads")) c.grads = root.tensors("grads");
  if (root.has("ema")) c.ema = root.tensors("ema");
  if (root.has("task")) c.task = root.numbers("task");
  if (root.has("scaler")) {
    const Reader scaler = root.child("scaler");
    c.scaler_scale = scaler.number("scale");
    c.scaler_growth_tracker = scaler.integer("growth_tracker");
  }
  c.config_hash = root.string("config_hash");
  if (root.has("model_config")) c.model_config = root.string("model_config");
  if (root.has("preprocessing")) c.preprocessing = root.string("preprocessing");
  return c;
}

}  // namespace psam::train
