#include "core/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace metacat {

Optimizer::Optimizer(OptimizerSpec spec, const std::vector<torch::Tensor>& like)
    : spec_(std::move(spec)) {
  if (spec_.name != "adam" && spec_.name != "sgd")
    throw UserError("train.optimizer: unknown optimiser '" + spec_.name + "'");
  if (spec_.name == "adam")
    for (const auto& t : like) {
      m_.push_back(torch::zeros_like(t).detach());
      v_.push_back(torch::zeros_like(t).detach());
    }
}

void Optimizer::step(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard ng;
  ++steps_;
  if (spec_.name == "sgd") {
    for (size_t i = 0; i < params.size(); ++i) params[i].sub_(grads[i], spec_.lr);
    return;
  }
  const double bc1 = 1.0 - std::pow(spec_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(spec_.beta2, static_cast<double>(steps_));
  const double step_size = spec_.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params.size(); ++i) {
    m_[i].mul_(spec_.beta1).add_(grads[i], 1.0 - spec_.beta1);
    v_[i].mul_(spec_.beta2).addcmul_(grads[i], grads[i], 1.0 - spec_.beta2);
    torch::Tensor denom = (v_[i].sqrt() / bc2_sqrt).add_(spec_.eps);
    params[i].addcdiv_(m_[i], denom, -step_size);
  }
}

double clip_global_norm(std::vector<torch::Tensor>& grads, double max_norm) {
  torch::NoGradGuard ng;
  double sq = 0;
  for (const auto& g : grads) sq += g.pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (auto& g : grads) g.mul_(scale);
  }
  return norm;
}

}  // namespace metacat
