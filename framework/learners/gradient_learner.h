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
//   protomaml  MAML whose head starts, in every episode, from the class
//            prototypes c_k (mean support embeddings): weight row 2 c_k,
//            bias -|c_k|^2, so that before adaptation its logits rank the
//            classes as ProtoNet's distances do (Triantafillou et al. 2020);
//            then every parameter adapts. The meta-gradient flows through
//            the prototypes; second order unless learner.first_order.
//            Classification only; the model's own head is not used.
//
// MAML++ options (Antoniou et al. 2019), any of the above:
//   per_step_rates   fast_{k+1} = fast_k - a_{k,t} grad, a learned rate per
//                    adapted tensor t and step k ("lslr.<t>", [inner_steps]).
//   per_step_bn      the batch-norm scale and shift at iterate k are
//                    "stepbn.<k>.<name>" (k >= 1; iterate 0 uses the model's
//                    own), meta-learned and not adapted. Normalisation always
//                    uses the statistics of the batch at hand, so the
//                    statistics are per step by construction.
//   multi_step_loss  meta-loss sum_k w_k L_q(fast_k), k = 1..K, w annealed
//                    from uniform to the last step (LearnerOptions).
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
  // The weights of the query losses after inner steps 1..K in the
  // meta-objective at meta-step `step` (without multi_step_loss: 0, ..., 0, 1).
  std::vector<double> step_loss_weights(int64_t step) const;
  // Proto-MAML's starting head from support features fs [n, F] (or
  // [T, n, F]) and labels: weight 2 c_k, bias -|c_k|^2, c_k the mean
  // feature of class k; `ways` classes.
  static Params prototype_head(const torch::Tensor& fs, const torch::Tensor& labels, int64_t ways);
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
  // Model parameters (theta without Meta-SGD rates), expanded when batched,
  // with the descriptor offset or the prototype head applied.
  Params model_params(const Params& theta, const EpisodeBatch& b) const;
  Params adapted(const Params& model) const;   // the subset the inner loop changes
  bool adapts(const std::string& name) const;  // whether `name` is in it
  // `model` with the per-step batch-norm parameters of iterate k in force.
  Params model_at(const Params& model, int64_t k) const;
  // The query loss of the adapted `fast` at iterate k, weighted.
  torch::Tensor query_loss(const Params& model, const Params& fast, int64_t k,
                           const EpisodeBatch& b, const torch::Tensor& fq,
                           torch::Tensor* out) const;
  torch::Tensor features(const Params& model, const EpisodeBatch& b, bool query) const;
  // Model outputs on the support or query set; ANIL reads the precomputed
  // body features `f` instead of the items.
  torch::Tensor output(const Params& full, const EpisodeBatch& b, bool query,
                       const torch::Tensor& f) const;
  // Inner step k (0-based) of `fast` from the support loss.
  Params step(const Params& theta, const Params& model, const Params& fast, const torch::Tensor& fs,
              const EpisodeBatch& b, bool create_graph, int64_t k) const;
  bool head_only_, learned_lr_, proto_head_, second_order_;
};

}  // namespace metacat
