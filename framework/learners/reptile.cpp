#include "learners/reptile.h"

#include <torch/csrc/autograd/autograd.h>

namespace metacat {

Params Reptile::adapt(const Params& theta, const Episode& ep, int64_t steps) const {
  Params fast = theta.detached(true);
  for (int64_t k = 0; k < steps; ++k) {
    torch::Tensor loss =
        task_loss(kind_, model_.forward(fast, ep.support_x, Mode::kTrain), ep.support_y);
    auto g = torch::autograd::grad({loss}, fast.tensors, {}, false, false, true);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < fast.size(); ++i)
      if (g[i].defined()) fast.tensors[i].sub_(g[i], opt_.inner_lr);
  }
  return fast.detached(false);
}

TaskStats Reptile::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                            std::vector<torch::Tensor>& grad) const {
  Params fast = adapt(theta, ep, opt_.inner_steps);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < grad.size(); ++i) grad[i].add_(theta.tensors[i].detach() - fast.tensors[i]);
  return stats(model_.forward(fast, ep.query_x, Mode::kTrain), ep.query_y);
}

torch::Tensor Reptile::predict(const Params& theta, const Episode& ep, uint64_t) const {
  Params fast = adapt(theta, ep, opt_.eval_inner_steps);
  torch::NoGradGuard ng;
  return model_.forward(fast, ep.query_x, Mode::kTrain);
}

}  // namespace metacat
