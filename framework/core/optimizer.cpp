#include "core/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace metacat {

double OptimizerSpec::lr_at(int64_t s) const {
  if (schedule != "cosine" || total_steps <= 0) return lr;
  const double t = std::min(1.0, static_cast<double>(s) / static_cast<double>(total_steps));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * t));
}

Optimizer::Optimizer(OptimizerSpec spec, const std::vector<torch::Tensor>& like)
    : spec_(std::move(spec)), lr_(spec_.lr) {
  if (spec_.schedule != "constant" && spec_.schedule != "cosine")
    throw UserError("train.lr_schedule: unknown schedule '" + spec_.schedule + "'");
  if (spec_.name != "adam" && spec_.name != "sgd")
    throw UserError("train.optimizer: unknown optimiser '" + spec_.name + "'");
  if (spec_.name != "adam") return;
  int64_t n = 0;
  for (const auto& t : like) n += t.numel();
  const auto options = like.empty() ? torch::TensorOptions() : like[0].options();
  flat_m_ = torch::zeros({n}, options.requires_grad(false));
  flat_v_ = torch::zeros({n}, options.requires_grad(false));
  int64_t off = 0;
  for (const auto& t : like) {
    m_.push_back(flat_m_.narrow(0, off, t.numel()).view(t.sizes()));
    v_.push_back(flat_v_.narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

void Optimizer::update(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m,
                       torch::Tensor& v) const {
  const double bc1 = 1.0 - std::pow(spec_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(spec_.beta2, static_cast<double>(steps_));
  const double step_size = lr_ / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  m.mul_(spec_.beta1).add_(g, 1.0 - spec_.beta1);
  v.mul_(spec_.beta2).addcmul_(g, g, 1.0 - spec_.beta2);
  torch::Tensor denom = (v.sqrt() / bc2_sqrt).add_(spec_.eps);
  p.addcdiv_(m, denom, -step_size);
}

void Optimizer::step_flat(torch::Tensor& flat_params, const torch::Tensor& flat_grads) {
  torch::NoGradGuard ng;
  ++steps_;
  if (spec_.name == "sgd") {
    flat_params.sub_(flat_grads, lr_);
    return;
  }
  update(flat_params, flat_grads, flat_m_, flat_v_);
}

void Optimizer::step_flat_range(torch::Tensor& flat_params, const torch::Tensor& flat_grads,
                                int64_t begin, int64_t end) {
  torch::NoGradGuard ng;
  ++steps_;
  torch::Tensor p = flat_params.narrow(0, begin, end - begin);
  const torch::Tensor g = flat_grads.narrow(0, begin, end - begin);
  if (spec_.name == "sgd") {
    p.sub_(g, lr_);
    return;
  }
  torch::Tensor m = flat_m_.narrow(0, begin, end - begin),
                v = flat_v_.narrow(0, begin, end - begin);
  update(p, g, m, v);
}

void Optimizer::step_rows(torch::Tensor& table, size_t k, const torch::Tensor& ids,
                          const torch::Tensor& rows) {
  torch::NoGradGuard ng;
  if (ids.numel() == 0) return;
  torch::Tensor p = table.index_select(0, ids);
  if (spec_.name == "sgd") {
    p.sub_(rows, lr_);
  } else {
    torch::Tensor m = m_.at(k).index_select(0, ids), v = v_.at(k).index_select(0, ids);
    update(p, rows, m, v);
    m_[k].index_copy_(0, ids, m);
    v_[k].index_copy_(0, ids, v);
  }
  table.index_copy_(0, ids, p);
}

void Optimizer::step(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard ng;
  ++steps_;
  if (spec_.name == "sgd") {
    for (size_t i = 0; i < params.size(); ++i) params[i].sub_(grads[i], lr_);
    return;
  }
  for (size_t i = 0; i < params.size(); ++i) update(params[i], grads[i], m_[i], v_[i]);
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
