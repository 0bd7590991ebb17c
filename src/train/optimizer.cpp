#include "psam/train/optimizer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "psam/util/error.h"

namespace psam::train {

Optimizer::Optimizer(NamedParameters parameters, const TrainConfig& config)
    : parameters_(std::move(parameters)),
      options_(resolve_param_options(parameters_, config)),
      state_(parameters_.size()),
      decoupled_(config.optimizer == OptimizerKind::kAdamW),
      sgd_(config.optimizer == OptimizerKind::kSgd),
      lr_(config.lr),
      beta1_(config.betas.at(0)),
      beta2_(config.betas.at(1)),
      eps_(config.eps),
      momentum_(config.momentum) {}

void Optimizer::zero_grad() {
  for (auto& [name, p] : parameters_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

void Optimizer::step() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    at::Tensor& p = parameters_[i].second;
    if (!p.grad().defined()) continue;
    at::Tensor grad = p.grad();
    State& s = state_[i];
    // The parameter's group: its lr multiplier and weight decay.
    const double lr = lr_ * options_[i].lr_mult;
    const double weight_decay = options_[i].weight_decay;
    if (sgd_) {
      sgd_step(p, grad, s, lr, weight_decay);
      continue;
    }
    if (!s.exp_avg.defined()) {
      s.exp_avg = at::zeros_like(p);
      s.exp_avg_sq = at::zeros_like(p);
    }
    ++s.step;
    if (weight_decay != 0) {
      if (decoupled_) {
        p.mul_(1 - lr * weight_decay);
      } else {
        grad = grad.add(p, weight_decay);
      }
    }
    s.exp_avg.lerp_(grad, 1 - beta1_);
    s.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad.conj(), 1 - beta2_);
    const double bias_correction1 = 1 - std::pow(beta1_, static_cast<double>(s.step));
    const double bias_correction2 = 1 - std::pow(beta2_, static_cast<double>(s.step));
    const double step_size = lr / bias_correction1;
    const at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(eps_);
    p.addcdiv_(s.exp_avg, denom, -step_size);
  }
}

// torch.optim.SGD: d = g + wd p; buf = d at the first step, then momentum buf + d; p -= lr buf.
void Optimizer::sgd_step(at::Tensor& p, at::Tensor grad, State& s, double lr,
                         double weight_decay) const {
  ++s.step;
  if (weight_decay != 0) grad = grad.add(p, weight_decay);
  if (momentum_ != 0) {
    if (s.exp_avg.defined()) {
      s.exp_avg.mul_(momentum_).add_(grad);
    } else {
      s.exp_avg = grad.clone();
    }
    grad = s.exp_avg;
  }
  p.add_(grad, -lr);
}

io::TensorDict Optimizer::state_dict() const {
  io::TensorDict out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const State& s = state_[i];
    if (s.step == 0) continue;
    const std::string& name = parameters_[i].first;
    out.insert(name + ".step", at::scalar_tensor(s.step, at::kLong));
    if (sgd_) {
      if (s.exp_avg.defined()) out.insert(name + ".momentum_buffer", s.exp_avg.cpu());
      continue;
    }
    out.insert(name + ".exp_avg", s.exp_avg.cpu());
    out.insert(name + ".exp_avg_sq", s.exp_avg_sq.cpu());
  }
  return out;
}

void Optimizer::load_state_dict(const io::TensorDict& state) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < parameters_.size(); ++i) index[parameters_[i].first] = i;
  for (auto& s : state_) s = State{};
  for (const auto& [key, tensor] : state) {
    const size_t dot = key.rfind('.');
    const std::string name = key.substr(0, dot);
    const std::string field = dot == std::string::npos ? "" : key.substr(dot + 1);
    const auto it = index.find(name);
    PSAM_CHECK(it != index.end(),
               fmt::format("optimizer state names '{}', which is not a trained parameter", key));
    const at::Tensor& p = parameters_[it->second].second;
    State& s = state_[it->second];
    if (field == "step") {
      s.step = tensor.item<int64_t>();
      continue;
    }
    const bool known = sgd_ ? field == "momentum_buffer"
                            : field == "exp_avg" || field == "exp_avg_sq";
    PSAM_CHECK(known, fmt::format("optimizer state has an unknown entry '{}'", key));
    PSAM_CHECK(tensor.sizes() == p.sizes(),
               fmt::format("optimizer state '{}' has shape {}, the parameter {}", key,
                           fmt::join(tensor.sizes(), "x"), fmt::join(p.sizes(), "x")));
    (field == "exp_avg_sq" ? s.exp_avg_sq : s.exp_avg) = tensor.to(p.options()).clone();
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const State& s = state_[i];
    const bool complete = sgd_ ? s.exp_avg.defined() == (s.step > 0 && momentum_ != 0)
                               : s.exp_avg.defined() == s.exp_avg_sq.defined() &&
                                     s.exp_avg.defined() == (s.step > 0);
    PSAM_CHECK(complete,
               fmt::format("optimizer state of '{}' is incomplete", parameters_[i].first));
  }
}

double grad_norm(const NamedParameters& parameters) {
  at::NoGradGuard no_grad;
  double sum = 0;
  for (const auto& [name, p] : parameters) {
    if (!p.grad().defined()) continue;
    const double n = p.grad().detach().to(at::kDouble).norm().item<double>();
    sum += n * n;
  }
  return std::sqrt(sum);
}

double clip_grad_norm(const NamedParameters& parameters, double max_norm) {
  const double norm = grad_norm(parameters);
  if (!std::isfinite(norm)) return norm;
  // The same coefficient as torch.nn.utils.clip_grad_norm_ (its 1e-6 keeps a zero norm finite).
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient < 1) {
    at::NoGradGuard no_grad;
    for (const auto& [name, p] : parameters) {
      if (p.grad().defined()) p.grad().mul_(coefficient);
    }
  }
  return norm;
}

}  // namespace psam::train
