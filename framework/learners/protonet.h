#pragma once
// Prototypical Networks (Snell et al. 2017): the body embeds support and
// query items (in one batch), a class prototype is the mean support
// embedding, and the logits are minus squared Euclidean distances to the
// prototypes. No inner loop; the model's head is unused.
#include "learners/learner.h"

namespace metacat {

class ProtoNet : public Learner {
 public:
  using Learner::Learner;
  Params init(uint64_t seed) const override;
  TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                     std::vector<torch::Tensor>& grad) const override;
  torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const override;
  torch::Tensor logits(const Params& theta, const Episode& ep) const;
};

}  // namespace metacat
