#pragma once
// Reptile (Nichol et al. 2018): k SGD steps on the support set from theta
// give theta'; the update theta <- theta + eps * mean(theta' - theta) is
// expressed as the gradient (theta - theta'), so it is summed and
// all-reduced like any meta-gradient; with train.optimizer = sgd and
// train.outer_lr = eps the outer step is exactly Reptile's.
#include "learners/learner.h"

namespace metacat {

class Reptile : public Learner {
 public:
  using Learner::Learner;
  TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                     std::vector<torch::Tensor>& grad) const override;
  torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const override;
  // theta' after `steps` plain SGD steps on the support set (no graph kept);
  // batched: [T, ...] per-task copies.
  Params adapt(const Params& theta, const EpisodeBatch& b, int64_t steps) const;

 protected:
  bool supports_batched() const override { return true; }
  torch::Tensor accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                   std::vector<torch::Tensor>& grad) const override;
};

}  // namespace metacat
