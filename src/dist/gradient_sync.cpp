#include "psam/dist/gradient_sync.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <mutex>

#include "psam/util/error.h"

namespace psam::dist {

struct GradientSync::State {
  struct Param {
    at::Tensor tensor;
    int64_t bucket = 0, offset = 0, numel = 0;
    unsigned hook = 0;
    bool hook_set = false;
  };
  struct Bucket {
    at::Tensor flat;  // the bucket's gradients, flattened one after another
    int64_t size = 0;     // parameters in it
    int64_t pending = 0;  // parameters whose gradient has not arrived in this backward
    bool launched = false;
    Pending work;
  };

  explicit State(Group& g) : group(g) {}

  // Called from the hooks (autograd may run them on its device threads): the gradient of
  // parameter i has arrived.
  void arrived(size_t i, const at::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    const Param& p = params[i];
    Bucket& b = buckets[p.bucket];
    b.flat.narrow(0, p.offset, p.numel).copy_(grad.reshape(-1)).mul_(weight);
    used[static_cast<int64_t>(i)] = 1.0;
    --b.pending;
    launch_ready();
  }

  // Launches the buckets in index order, as far as they are complete.
  void launch_ready() {
    while (next < buckets.size() && buckets[next].pending == 0) launch(next++);
  }
  void launch(size_t k) {
    buckets[k].launched = true;
    buckets[k].work = group.allreduce_sum_async(buckets[k].flat);
  }

  Group& group;
  std::vector<Param> params;
  std::vector<Bucket> buckets;
  at::Tensor used;  // float [params]: 1 where this rank's backward produced the gradient
  double weight = 1.0;
  size_t next = 0;
  std::mutex mutex;
};

GradientSync::GradientSync(Group& group,
                           std::vector<std::pair<std::string, at::Tensor>> parameters,
                           int64_t bucket_bytes, bool overlap)
    : state_(std::make_unique<State>(group)) {
  State& s = *state_;
  PSAM_CHECK(bucket_bytes > 0, "gradient sync: the bucket size must be > 0 bytes");
  // Reverse registration order: the parameters backward reaches first fill the first buckets.
  int64_t bytes = 0;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const at::Tensor& t = it->second;
    const bool fresh = s.buckets.empty() || bytes >= bucket_bytes ||
                       s.buckets.back().flat.scalar_type() != t.scalar_type() ||
                       s.buckets.back().flat.device() != t.device();
    if (fresh) {
      s.buckets.push_back({});
      s.buckets.back().flat = at::empty({0}, t.options());
      bytes = 0;
    }
    State::Bucket& b = s.buckets.back();
    State::Param p;
    p.tensor = t;
    p.bucket = static_cast<int64_t>(s.buckets.size()) - 1;
    p.offset = b.flat.numel();
    p.numel = t.numel();
    b.flat = at::empty({p.offset + p.numel}, t.options());
    ++b.size;
    bytes += p.numel * static_cast<int64_t>(t.element_size());
    s.params.push_back(p);
  }
  const auto device = s.params.empty() ? at::Device(at::kCPU) : s.params[0].tensor.device();
  s.used = at::zeros({static_cast<int64_t>(s.params.size())}, at::TensorOptions(device));
  for (size_t i = 0; overlap && i < s.params.size(); ++i) {
    State* raw = state_.get();
    s.params[i].hook_set = true;
    s.params[i].hook = s.params[i].tensor.register_hook([raw, i](const at::Tensor& grad) {
      raw->arrived(i, grad);
      return grad;
    });
  }
}

GradientSync::~GradientSync() {
  for (auto& p : state_->params) {
    if (p.hook_set) p.tensor.remove_hook(p.hook);
  }
}

void GradientSync::reduce(double weight) {
  begin(weight);
  State& s = *state_;
  for (size_t i = 0; i < s.params.size(); ++i) {
    const at::Tensor& grad = s.params[i].tensor.grad();
    if (grad.defined()) s.arrived(i, grad);
  }
  finish();
}

int64_t GradientSync::buckets() const { return static_cast<int64_t>(state_->buckets.size()); }

void GradientSync::begin(double weight) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.weight = weight;
  s.next = 0;
  s.used.zero_();
  for (auto& b : s.buckets) {
    // Parameters this rank does not reach contribute zeros.
    b.flat.zero_();
    b.pending = b.size;
    b.launched = false;
  }
}

void GradientSync::finish() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    for (size_t k = s.next; k < s.buckets.size(); ++k) s.launch(k);
    s.next = s.buckets.size();
  }
  for (auto& b : s.buckets) b.work.wait();
  at::Tensor used = s.used.clone();
  s.group.allreduce_sum(used);
  used = used.cpu();
  const float* any = used.data_ptr<float>();
  for (size_t i = 0; i < s.params.size(); ++i) {
    State::Param& p = s.params[i];
    if (any[i] == 0) continue;  // no rank used it: no gradient, as in one process
    const at::Tensor global = s.buckets[p.bucket].flat.narrow(0, p.offset, p.numel).view_as(p.tensor);
    at::Tensor& grad = p.tensor.mutable_grad();
    if (grad.defined()) {
      grad.copy_(global);
    } else {
      grad = global.clone();
    }
  }
}

}  // namespace psam::dist
