// Adam, AdamW and SGD over named parameters, with the per-parameter state (step, exp_avg,
// exp_avg_sq; SGD: momentum_buffer) kept by parameter name so a checkpoint restores it onto a
// rebuilt model. The update is PyTorch's torch.optim.Adam / AdamW (single-tensor path, amsgrad
// off) / SGD (momentum without dampening, not Nesterov).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "psam/io/tensor_dict.h"
#include "psam/train/param_groups.h"
#include "psam/train/train_config.h"

namespace psam::train {

class Optimizer {
 public:
  // Uses config.optimizer, lr, weight_decay, betas and eps (SGD: momentum), and the parameter
  // groups (resolve_param_options): each parameter's lr is lr() times its lr_mult, as a
  // torch.optim param group's lr, and its own weight decay.
  Optimizer(NamedParameters parameters, const TrainConfig& config);

  // The scheduled (base) learning rate.
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }

  void zero_grad();
  // One update of every parameter that has a gradient.
  void step();

  // "<name>.exp_avg", "<name>.exp_avg_sq" and "<name>.step" (int64 scalar) for every parameter
  // updated at least once.
  io::TensorDict state_dict() const;
  // The inverse; psam::Error naming the parameter when a state's shape does not match or a
  // name is unknown.
  void load_state_dict(const io::TensorDict& state);

  const NamedParameters& parameters() const { return parameters_; }
  const std::vector<ParamOptions>& param_options() const { return options_; }

 private:
  struct State {
    int64_t step = 0;
    at::Tensor exp_avg, exp_avg_sq;  // SGD: exp_avg holds the momentum buffer
  };
  void sgd_step(at::Tensor& p, at::Tensor grad, State& s, double lr, double weight_decay) const;

  NamedParameters parameters_;
  std::vector<ParamOptions> options_;
  std::vector<State> state_;
  bool decoupled_;  // AdamW
  bool sgd_;
  double lr_, beta1_, beta2_, eps_, momentum_;
};

// Scales every gradient so that their global L2 norm is at most max_norm (as
// torch.nn.utils.clip_grad_norm_); returns the norm before clipping (inf/nan when a gradient
// is not finite; the gradients are then left as they are).
double clip_grad_norm(const NamedParameters& parameters, double max_norm);
// The global L2 norm of the gradients, without changing them.
double grad_norm(const NamedParameters& parameters);

}  // namespace psam::train
