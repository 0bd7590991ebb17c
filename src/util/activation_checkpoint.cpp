#include "psam/util/activation_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

#include "psam/util/autocast_state.h"
#include "psam/util/error.h"

namespace psam {
namespace {

// What backward needs besides the saved inputs; kept in the autograd context as a capsule.
struct SegmentState : torch::CustomClassHolder {
  Segment segment;
  std::vector<at::Generator> generators;  // whose states the forward started from
  std::vector<at::Tensor> states;
  AutocastState cpu_autocast, cuda_autocast;
};

std::vector<at::Tensor> generator_states(std::vector<at::Generator> generators) {
  std::vector<at::Tensor> states;
  for (at::Generator& g : generators) {
    std::lock_guard<std::mutex> lock(g.mutex());
    states.push_back(g.get_state());
  }
  return states;
}

void set_generator_states(std::vector<at::Generator>& generators,
                          const std::vector<at::Tensor>& states) {
  for (size_t i = 0; i < generators.size(); ++i) {
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    generators[i].set_state(states[i]);
  }
}

// Sets the autocast of both device types for a scope.
class AutocastScope {
 public:
  AutocastScope(const AutocastState& cpu, const AutocastState& cuda)
      : cpu_(autocast_state(c10::kCPU)), cuda_(autocast_state(c10::kCUDA)) {
    set_autocast_state(c10::kCPU, cpu);
    set_autocast_state(c10::kCUDA, cuda);
  }
  ~AutocastScope() {
    set_autocast_state(c10::kCPU, cpu_);
    set_autocast_state(c10::kCUDA, cuda_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  AutocastState cpu_, cuda_;
};

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  // `anchor` requires a gradient, so backward runs even when no input does (frozen layers
  // before a segment with trained weights, e.g. adapters in a frozen encoder).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& anchor, at::TensorList inputs,
                                                c10::intrusive_ptr<SegmentState> state) {
    (void)anchor;
    state->states = generator_states(state->generators);
    state->cpu_autocast = autocast_state(c10::kCPU);
    state->cuda_autocast = autocast_state(c10::kCUDA);
    ctx->save_for_backward(inputs.vec());
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return state->segment(inputs.vec());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto state = c10::static_intrusive_pointer_cast<SegmentState>(
        ctx->saved_data["state"].toCapsule());
    std::vector<at::Tensor> inputs;
    for (const at::Tensor& saved : ctx->get_saved_variables()) {
      if (!saved.defined()) {
        inputs.push_back(saved);
        continue;
      }
      inputs.push_back(saved.detach().requires_grad_(saved.requires_grad()));
    }
    std::vector<at::Tensor> outputs;
    {
      const std::vector<at::Tensor> now = generator_states(state->generators);
      set_generator_states(state->generators, state->states);
      AutocastScope autocast(state->cpu_autocast, state->cuda_autocast);
      at::AutoGradMode grad(true);
      outputs = state->segment(inputs);
      set_generator_states(state->generators, now);
    }
    std::vector<at::Tensor> roots, grads;
    for (size_t i = 0; i < outputs.size() && i < grad_outputs.size(); ++i) {
      if (outputs[i].defined() && outputs[i].requires_grad() && grad_outputs[i].defined()) {
        roots.push_back(outputs[i]);
        grads.push_back(grad_outputs[i]);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    // One gradient per forward argument tensor: the anchor, each input, (none for) the state.
    torch::autograd::variable_list input_grads = {at::Tensor()};
    for (const at::Tensor& input : inputs) {
      input_grads.push_back(input.defined() && input.requires_grad() ? input.grad()
                                                                     : at::Tensor());
    }
    input_grads.push_back(at::Tensor());
    return input_grads;
  }
};

}  // namespace

std::vector<at::Tensor> checkpointed(const torch::nn::Module& module, const Segment& segment,
                                     const std::vector<at::Tensor>& inputs,
                                     std::vector<at::Generator> generators) {
  bool needed = false;
  bool cuda = false;
  for (const at::Tensor& input : inputs) {
    needed = needed || (input.defined() && input.requires_grad());
    cuda = cuda || (input.defined() && input.is_cuda());
  }
  for (const at::Tensor& p : module.parameters()) needed = needed || p.requires_grad();
  if (!at::GradMode::is_enabled() || !needed) return segment(inputs);
  generators.push_back(at::detail::getDefaultCPUGenerator());
  if (cuda) generators.push_back(at::globalContext().defaultGenerator(at::kCUDA));
  auto state = c10::make_intrusive<SegmentState>();
  state->segment = segment;
  state->generators = std::move(generators);
  const at::Tensor anchor = at::empty({0}).requires_grad_(true);
  // A TensorList argument makes each input an input of the autograd node (one gradient each).
  return CheckpointFunction::apply(anchor, at::TensorList(inputs), state);
}

}  // namespace psam
