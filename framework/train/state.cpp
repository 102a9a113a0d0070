#include "train/state.h"

#include "core/error.h"
#include "train/experiment.h"

namespace metacat {

TrainState::TrainState(const Params& init, const OptimizerSpec& spec) : theta(init) {
  flat_grad = torch::zeros({theta.numel()}, theta.tensors[0].options().requires_grad(false));
  flat_theta = flatten(theta.tensors).detach().clone();
  int64_t off = 0;
  for (size_t i = 0; i < theta.size(); ++i) {
    const auto& t = theta.tensors[i];
    grads.push_back(flat_grad.narrow(0, off, t.numel()).view(t.sizes()));
    theta.tensors[i] =
        flat_theta.narrow(0, off, t.numel()).view(t.sizes()).detach().set_requires_grad(true);
    off += t.numel();
  }
  optimizer = std::make_unique<Optimizer>(spec, theta.tensors);
}

Checkpoint TrainState::checkpoint(const Experiment& ex, int64_t step, int world_size) const {
  Checkpoint ck;
  ck.step = step;
  ck.learner = ex.learner->name();
  ck.config_yaml = ex.config.to_yaml();
  ck.config_hash = ex.config.hash();
  // Host copies: a checkpoint is the same file whichever device trained it.
  ck.params = theta.detached(false).on(torch::kCPU);
  ck.optimizer_steps = optimizer->steps();
  for (const torch::Tensor& t : optimizer->exp_avg()) ck.exp_avg.push_back(t.cpu());
  for (const torch::Tensor& t : optimizer->exp_avg_sq()) ck.exp_avg_sq.push_back(t.cpu());
  ck.world_size = world_size;
  ck.data_checksum = ex.source->data_checksum();
  return ck;
}

void TrainState::restore(const Checkpoint& ck) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < theta.size(); ++i) theta.tensors[i].copy_(ck.params.tensors[i]);
  if (ck.exp_avg.size() != optimizer->exp_avg().size())
    throw UserError(
        "cannot resume: the checkpoint's optimiser state does not match train.optimizer");
  for (size_t i = 0; i < optimizer->exp_avg().size(); ++i) {
    optimizer->exp_avg()[i].copy_(ck.exp_avg[i]);
    optimizer->exp_avg_sq()[i].copy_(ck.exp_avg_sq[i]);
  }
  optimizer->set_steps(ck.optimizer_steps);
}

}  // namespace metacat
