// The process group of a data-parallel job, on PyTorch's own c10d engine: a TCPStore rendezvous
// at the master address, then ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors,
// where the build has it). A group of one process needs no network and every collective is a
// no-op, so callers use the same code for one process and many.
//
// Failures: a rendezvous that cannot complete, and a collective whose peer died or hung, end in
// a psam::Error within the configured timeout. Every rank keeps a heartbeat in the store, so the
// error names the rank that was lost.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "psam/dist/launch.h"
#include "psam/util/names.h"

namespace psam::dist {

enum class Backend { kAuto, kGloo, kNccl };
inline constexpr NameTable<Backend, 3> kBackendNames = {{
    {Backend::kAuto, "auto"},
    {Backend::kGloo, "gloo"},
    {Backend::kNccl, "nccl"},
}};
constexpr const auto& enum_names(Backend) { return kBackendNames; }

struct GroupOptions {
  Backend backend = Backend::kAuto;  // auto: NCCL for CUDA tensors when built with it, else Gloo
  bool cuda = false;                 // the tensors the collectives move live on CUDA
  double timeout_s = 300;            // rendezvous and each collective
  // A real c10d group even for one process (world size 1 otherwise gets the no-op group): checks
  // a backend, NCCL on one GPU say, without peers.
  bool c10d_at_world_one = false;
};

// What this binary can do: "gloo", "nccl" (empty when it was built without either).
std::vector<std::string> available_backends();

// A collective launched without waiting (a gradient bucket).
class Pending {
 public:
  Pending() = default;
  explicit Pending(std::function<void()> wait) : wait_(std::move(wait)) {}
  void wait() {
    if (wait_) wait_();
    wait_ = nullptr;
  }

 private:
  std::function<void()> wait_;
};

class Group {
 public:
  virtual ~Group() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_main() const { return rank_ == 0; }
  std::string backend() const { return backend_; }

  // Sum over every rank, in place (the tensor's shape and dtype equal on every rank).
  virtual void allreduce_sum(at::Tensor& tensor) = 0;
  virtual Pending allreduce_sum_async(at::Tensor tensor) = 0;
  // Rank `root`'s values into every rank's tensor, in place.
  virtual void broadcast(at::Tensor& tensor, int root = 0) = 0;
  // Every rank's tensor (same shape everywhere), in rank order.
  virtual std::vector<at::Tensor> allgather(const at::Tensor& tensor) = 0;
  virtual void barrier() = 0;

  // The sum of one number over every rank.
  double sum(double value);
  // Whether `flag` holds on any rank.
  bool any(bool flag);

 protected:
  Group(int rank, int size, std::string backend)
      : rank_(rank), size_(size), backend_(std::move(backend)) {}

 private:
  int rank_, size_;
  std::string backend_;
};

// The group of one process.
std::unique_ptr<Group> single_process_group();

// The group `launch` describes (a single-process group when its world size is 1). psam::Error
// when the backend is not built in or the rendezvous times out.
std::unique_ptr<Group> init_group(const Launch& launch, const GroupOptions& options);

}  // namespace psam::dist
