#include "psam/dist/group.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "psam/util/error.h"
#include "psam/util/log.h"

#if defined(USE_C10D_GLOO) && __has_include(<gloo/config.h>)
#define PSAM_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(USE_C10D_NCCL)
#define PSAM_HAVE_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if defined(PSAM_HAVE_GLOO) || defined(PSAM_HAVE_NCCL)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace psam::dist {
namespace {

class SingleProcessGroup : public Group {
 public:
  SingleProcessGroup() : Group(0, 1, "none") {}
  void allreduce_sum(at::Tensor&) override {}
  Pending allreduce_sum_async(at::Tensor) override { return {}; }
  void broadcast(at::Tensor&, int) override {}
  std::vector<at::Tensor> allgather(const at::Tensor& tensor) override { return {tensor}; }
  void barrier() override {}
};

#if defined(PSAM_HAVE_GLOO) || defined(PSAM_HAVE_NCCL)

using namespace std::chrono_literals;
constexpr auto kBeat = 500ms;
// A rank whose heartbeat did not move for this long is counted as lost.
constexpr auto kSilence = 3s;

std::string heartbeat_key(int rank) { return fmt::format("psam/heartbeat/{}", rank); }

// Every rank bumps its counter in the store twice a second from its own connection, so that a
// failed collective can name the ranks that stopped.
class Heartbeat {
 public:
  Heartbeat(const Launch& launch, std::chrono::milliseconds timeout)
      : rank_(launch.rank),
        host_(launch.master_addr),
        port_(static_cast<uint16_t>(launch.master_port)) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(launch.master_port);
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, o);
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stop_) {
        try {
          store_->add(heartbeat_key(rank_), 1);
        } catch (const std::exception&) {
          return;  // the store host is gone; diagnose() reports it
        }
        cv_.wait_for(lock, kBeat);
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // The ranks whose heartbeat stood still for kSilence (empty: all alive); {0} with `host_lost`
  // when the store on rank 0 cannot be reached.
  std::vector<int> silent_ranks(int world, bool& host_lost) {
    host_lost = false;
    try {
      const auto client = fresh_client();
      std::vector<int64_t> before(world);
      for (int r = 0; r < world; ++r) before[r] = client->add(heartbeat_key(r), 0);
      std::this_thread::sleep_for(kSilence);
      std::vector<int> silent;
      for (int r = 0; r < world; ++r) {
        if (client->add(heartbeat_key(r), 0) == before[r]) silent.push_back(r);
      }
      return silent;
    } catch (const std::exception&) {
      host_lost = true;
      return {0};
    }
  }

 private:
  c10::intrusive_ptr<c10d::TCPStore> fresh_client() {
    c10d::TCPStoreOptions o;
    o.port = port_;
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = 5s;
    return c10::make_intrusive<c10d::TCPStore>(host_, o);
  }

  int rank_;
  std::string host_;
  uint16_t port_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The part of a c10d group that does not depend on the backend's class.
class C10dGroupBase : public Group {
 protected:
  C10dGroupBase(const Launch& launch, const GroupOptions& options, std::string backend)
      : Group(launch.rank, launch.world_size, std::move(backend)),
        timeout_(std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000))) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(launch.master_port);
    o.isServer = launch.rank == 0;
    // The process group's own rendezvous waits for every rank (with the timeout); the store's
    // worker count would also count the heartbeat connections.
    o.waitWorkers = false;
    o.timeout = timeout_;
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, o);
      heartbeat_ = std::make_unique<Heartbeat>(launch, timeout_);
    } catch (const std::exception& e) {
      fail(fmt::format("rank {}: the rendezvous at {}:{} of {} processes did not complete "
                       "within {} s ({})",
                       launch.rank, launch.master_addr, launch.master_port, launch.world_size,
                       options.timeout_s, first_line(e.what())));
    }
  }

  // Runs a collective; a failure becomes a psam::Error naming the lost ranks.
  template <class F>
  void guarded(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      fail(fmt::format("rank {}: {} failed: {} ({})", rank(), what, lost_ranks(),
                       first_line(e.what())));
    }
  }

  // The rendezvous of the process group itself: every rank connects to every other.
  template <class F>
  void rendezvous(const Launch& launch, double timeout_s, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      fail(fmt::format("rank {}: the rendezvous at {}:{} of {} processes did not complete "
                       "within {} s: {} ({})",
                       rank(), launch.master_addr, launch.master_port, size(), timeout_s,
                       lost_ranks(), first_line(e.what())));
    }
  }

  std::string lost_ranks() {
    bool host_lost = false;
    const auto silent = heartbeat_->silent_ranks(size(), host_lost);
    std::string lost;
    for (int r : silent) lost += (lost.empty() ? "" : ", ") + std::to_string(r);
    return silent.empty() ? "no rank was lost; it timed out or a rank is stuck"
           : host_lost    ? "lost rank 0, which hosts the rendezvous store"
                          : "lost rank " + lost + " (no heartbeat)";
  }

  static std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
  }

  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::unique_ptr<Heartbeat> heartbeat_;
};

// Collectives take tensors on any device: NCCL moves CUDA tensors only, so a host tensor (the
// trainer's loss sums, generator states, the evaluator's tables) goes to the backend's device
// and its result comes back.
template <class PG>
class C10dGroup : public C10dGroupBase {
 public:
  C10dGroup(const Launch& launch, const GroupOptions& options, std::string backend,
            c10::Device device,
            const std::function<c10::intrusive_ptr<PG>(const c10::intrusive_ptr<c10d::Store>&,
                                                       std::chrono::milliseconds)>& make)
      : C10dGroupBase(launch, options, std::move(backend)), device_(device) {
    rendezvous(launch, options.timeout_s, [&] { pg_ = make(store_, timeout_); });
  }

  void allreduce_sum(at::Tensor& tensor) override { allreduce_sum_async(tensor).wait(); }

  Pending allreduce_sum_async(at::Tensor tensor) override {
    at::Tensor moved = on_backend(tensor);
    c10::intrusive_ptr<c10d::Work> work;
    guarded("allreduce", [&] {
      std::vector<at::Tensor> tensors = {moved};
      work = pg_->allreduce(tensors);
    });
    return Pending([this, work, tensor, moved]() mutable {
      guarded("allreduce", [&] { work->wait(); });
      if (!moved.is_same(tensor)) tensor.copy_(moved);
    });
  }

  void broadcast(at::Tensor& tensor, int root) override {
    at::Tensor moved = on_backend(tensor);
    guarded("broadcast", [&] {
      std::vector<at::Tensor> tensors = {moved};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      pg_->broadcast(tensors, o)->wait();
    });
    if (!moved.is_same(tensor)) tensor.copy_(moved);
  }

  std::vector<at::Tensor> allgather(const at::Tensor& tensor) override {
    const at::Tensor moved = on_backend(tensor);
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < size(); ++r) out[0].push_back(at::empty_like(moved));
    guarded("allgather", [&] {
      std::vector<at::Tensor> in = {moved};
      pg_->allgather(out, in)->wait();
    });
    for (auto& t : out[0]) t = t.to(tensor.device());
    return out[0];
  }

  void barrier() override {
    // A barrier is an allreduce of one element, so its failures are diagnosed the same way.
    at::Tensor one = at::ones({1}, at::kFloat);
    allreduce_sum(one);
  }

 private:
  at::Tensor on_backend(const at::Tensor& t) const {
    return t.device() == device_ ? t : t.to(device_).contiguous();
  }

  c10::Device device_;
  c10::intrusive_ptr<PG> pg_;
};

#endif  // PSAM_HAVE_GLOO || PSAM_HAVE_NCCL

}  // namespace

double Group::sum(double value) {
  at::Tensor t = at::full({1}, value, at::kDouble);
  allreduce_sum(t);
  return t.item<double>();
}

bool Group::any(bool flag) { return sum(flag ? 1.0 : 0.0) > 0; }

std::vector<std::string> available_backends() {
  std::vector<std::string> out;
#ifdef PSAM_HAVE_GLOO
  out.emplace_back("gloo");
#endif
#ifdef PSAM_HAVE_NCCL
  out.emplace_back("nccl");
#endif
  return out;
}

std::unique_ptr<Group> single_process_group() { return std::make_unique<SingleProcessGroup>(); }

std::unique_ptr<Group> init_group(const Launch& launch, const GroupOptions& options) {
  if (launch.world_size <= 1 && !options.c10d_at_world_one) return single_process_group();
  PSAM_CHECK(options.timeout_s > 0, "distributed: the timeout must be > 0 s");
  Backend backend = options.backend;
  if (backend == Backend::kAuto) {
#ifdef PSAM_HAVE_NCCL
    backend = options.cuda ? Backend::kNccl : Backend::kGloo;
#else
    backend = Backend::kGloo;
#endif
  }
  log::info(fmt::format("distributed: rank {} of {} ({}), {} at {}:{}", launch.rank,
                        launch.world_size, name_of(launch.launcher), name_of(backend),
                        launch.master_addr, launch.master_port));
#if defined(PSAM_HAVE_GLOO) || defined(PSAM_HAVE_NCCL)
#ifdef PSAM_HAVE_GLOO
  if (backend == Backend::kGloo) {
    PSAM_CHECK(!options.cuda, "distributed: the gloo backend here moves CPU tensors; use nccl "
                              "(or auto) for CUDA");
    return std::make_unique<C10dGroup<c10d::ProcessGroupGloo>>(
        launch, options, "gloo", c10::Device(c10::kCPU),
        [&](const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout) {
          auto o = c10d::ProcessGroupGloo::Options::create(timeout);
          // GLOO_SOCKET_IFNAME picks the interface, as in PyTorch; a loopback master keeps
          // every rank on loopback (one machine).
          const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
          if (ifname != nullptr && *ifname != '\0') {
            o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
          } else if (launch.master_addr == "127.0.0.1" || launch.master_addr == "localhost") {
            o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
          } else {
            o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
          }
          return c10::make_intrusive<c10d::ProcessGroupGloo>(store, launch.rank,
                                                             launch.world_size, o);
        });
  }
#endif
#ifdef PSAM_HAVE_NCCL
  if (backend == Backend::kNccl) {
    PSAM_CHECK(options.cuda, "distributed: nccl moves CUDA tensors; this run is on the CPU");
    // The GPU of this process: local_rank as torchrun sets it, used by tools/train.cpp too.
    return std::make_unique<C10dGroup<c10d::ProcessGroupNCCL>>(
        launch, options, "nccl",
        c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank)),
        [&](const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout) {
          auto o = c10d::ProcessGroupNCCL::Options::create();
          o->timeout = timeout;
          return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, launch.rank,
                                                             launch.world_size, o);
        });
  }
#endif
#endif
  const auto built = available_backends();
  fail(fmt::format("distributed: {} processes asked for, but this build has no {} backend "
                   "(it has: {})",
                   launch.world_size, name_of(backend),
                   built.empty() ? "none" : join_alternatives(built)));
}

}  // namespace psam::dist
