#include "learners/reptile.h"

#include <torch/csrc/autograd/autograd.h>

namespace metacat {

Params Reptile::adapt(const Params& theta, const EpisodeBatch& b, int64_t steps) const {
  Params fast = expand(theta, b).detached(true);
  if (b.sx.size(b.batched ? 1 : 0) == 0) steps = 0;  // zero-shot: the start itself
  for (int64_t k = 0; k < steps; ++k) {
    torch::Tensor out = b.batched ? model_.forward_batched(fast, b.sx, Mode::kTrain)
                                  : model_.forward(fast, b.sx, Mode::kTrain);
    auto g = torch::autograd::grad({loss(out, b.sy, b)}, fast.tensors, {}, false, false, true);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < fast.size(); ++i)
      if (g[i].defined()) fast.tensors[i].sub_(g[i], opt_.inner_lr);
  }
  return fast.detached(false);
}

TaskStats Reptile::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                            std::vector<torch::Tensor>& grad) const {
  Params fast = adapt(theta, single_episode(ep), opt_.inner_steps);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < grad.size(); ++i)
    grad[i].add_(theta.tensors[i].detach() - fast.tensors[i]);
  return stats(model_.forward(fast, ep.query_x, Mode::kTrain), ep.query_y);
}

torch::Tensor Reptile::accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                          std::vector<torch::Tensor>& grad) const {
  Params fast = adapt(theta, b, opt_.inner_steps);
  torch::NoGradGuard ng;
  // sum over tasks of (theta - theta'_t)
  for (size_t i = 0; i < grad.size(); ++i)
    grad[i].add_(theta.tensors[i].detach() * static_cast<double>(b.tasks) - fast.tensors[i].sum(0));
  return model_.forward_batched(fast, b.qx, Mode::kTrain);
}

torch::Tensor Reptile::predict(const Params& theta, const Episode& ep, uint64_t) const {
  Params fast = adapt(theta, single_episode(ep), opt_.eval_inner_steps);
  torch::NoGradGuard ng;
  return model_.forward(fast, ep.query_x, Mode::kTrain);
}

}  // namespace metacat
