#pragma once
// Gradient-based inner loops: MAML, first-order MAML, ANIL and Meta-SGD.
//
//   maml     fast = theta - a * grad L_s(fast), k steps, differentiated through
//            (torch::autograd::grad with create_graph): exact second order.
//   fomaml   the same steps with the inner gradients treated as constants;
//            the meta-gradient is then grad L_q at the adapted parameters.
//   anil     only the head is adapted; body features are computed once per
//            episode; second order unless learner.first_order.
//   metasgd  fast = theta - alpha (.) grad L_s, alpha a learned tensor per
//            parameter ("lr.<name>", initialised to inner_lr); second order
//            unless learner.first_order (alpha still learns: d fast/d alpha).
#include "learners/learner.h"

namespace metacat {

class GradientLearner : public Learner {
 public:
  GradientLearner(const Model& model, TaskKind kind, LearnerOptions opt);
  Params init(uint64_t seed) const override;
  TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                     std::vector<torch::Tensor>& grad) const override;
  torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const override;

  // The adapted model parameters after `steps` inner steps from theta on the
  // support set, and the query outputs there. create_graph keeps the graph
  // of the inner gradients (second order).
  std::pair<Params, torch::Tensor> adapt(const Params& theta, const Episode& ep, int64_t steps,
                                         bool create_graph) const;

 private:
  bool head_only_, learned_lr_, second_order_;
};

}  // namespace metacat
