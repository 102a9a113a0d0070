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
//
// Every inner loop runs on one episode or, task-batched, on T stacked ones
// (EpisodeBatch): the same code with the model's batched forward and the
// sum of the per-task losses, whose gradient w.r.t. the stacked fast
// parameters is each task's own gradient.
//
// learner.recompute (second order only): the forward pass keeps just the
// inner iterates fast_0..fast_{k-1}; the backward pass walks the steps in
// reverse, rebuilding one step's graph at a time and pulling the adjoint
// through it (a vector-Jacobian product). Same gradient; activations of
// one step alive at a time instead of k (only the k parameter-sized
// iterates grow with the number of inner steps).
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
  std::pair<Params, torch::Tensor> adapt(const Params& theta, const EpisodeBatch& b, int64_t steps,
                                         bool create_graph) const;
  bool second_order() const { return second_order_; }
  // The recomputing backward pass (learner.recompute), callable directly so
  // that tests compare it with the ordinary one.
  torch::Tensor accumulate_recomputed(const Params& theta, const EpisodeBatch& b,
                                      std::vector<torch::Tensor>& grad) const;

 protected:
  bool supports_batched() const override { return true; }
  torch::Tensor accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                   std::vector<torch::Tensor>& grad) const override;

 private:
  // Adds the meta-gradient of b into grad; returns the query outputs.
  torch::Tensor accumulate(const Params& theta, const EpisodeBatch& b,
                           std::vector<torch::Tensor>& grad) const;
  // Model parameters (theta without Meta-SGD rates), expanded when batched.
  Params model_params(const Params& theta, const EpisodeBatch& b) const;
  Params adapted(const Params& model) const;  // the subset the inner loop changes
  torch::Tensor features(const Params& model, const EpisodeBatch& b, bool query) const;
  // Model outputs on the support or query set; ANIL reads the precomputed
  // body features `f` instead of the items.
  torch::Tensor output(const Params& full, const EpisodeBatch& b, bool query,
                       const torch::Tensor& f) const;
  // One inner step of `fast` from the support loss.
  Params step(const Params& theta, const Params& model, const Params& fast, const torch::Tensor& fs,
              const EpisodeBatch& b, bool create_graph) const;
  bool head_only_, learned_lr_, second_order_;
};

}  // namespace metacat
