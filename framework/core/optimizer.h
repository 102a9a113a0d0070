#pragma once
// First-order optimisers over a list of tensors, updated in place.
// Adam follows torch.optim.Adam (no weight decay, no AMSGrad) step for step,
// so a run can be checked against a PyTorch peer. State is plain tensors so
// that checkpoints can save and restore it exactly.
#include <torch/types.h>

#include <string>
#include <vector>

namespace metacat {

struct OptimizerSpec {
  std::string name = "adam";  // adam | sgd
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // constant: lr at every step; cosine: lr at step 0 annealed to min_lr at
  // total_steps, min_lr + (lr - min_lr) (1 + cos(pi s / total_steps)) / 2.
  std::string schedule = "constant";
  double min_lr = 0;
  int64_t total_steps = 0;
  // The rate of (0-based) step s under the schedule.
  double lr_at(int64_t s) const;
};

class Optimizer {
 public:
  Optimizer(OptimizerSpec spec, const std::vector<torch::Tensor>& like);
  // params[i] -= update(grads[i]); grads are read only.
  void step(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads);
  // The same update when params and grads are the flat concatenations of the
  // tensors `like` described (each moment tensor is a view of a flat one).
  void step_flat(torch::Tensor& flat_params, const torch::Tensor& flat_grads);
  // Sparse embedding tables (comm.sparse_embeddings): the flat update of
  // elements [begin, end) only (it counts the step), then the lazy update
  // of rows `ids` of parameter k (a 2-D table) by the gradient rows `rows`:
  // the moments and values of the other rows stay as they are (LazyAdam;
  // bias correction by the global step count).
  void step_flat_range(torch::Tensor& flat_params, const torch::Tensor& flat_grads, int64_t begin,
                       int64_t end);
  void step_rows(torch::Tensor& table, size_t k, const torch::Tensor& ids,
                 const torch::Tensor& rows);
  int64_t steps() const { return steps_; }
  const OptimizerSpec& spec() const { return spec_; }
  // Adam moments (empty for SGD), for checkpoints.
  std::vector<torch::Tensor>& exp_avg() { return m_; }
  std::vector<torch::Tensor>& exp_avg_sq() { return v_; }
  void set_steps(int64_t s) { steps_ = s; }
  // The rate the next steps use (the trainer applies spec().lr_at(step)).
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }

 private:
  OptimizerSpec spec_;
  double lr_;
  int64_t steps_ = 0;
  std::vector<torch::Tensor> m_, v_;  // views of flat_m_, flat_v_
  torch::Tensor flat_m_, flat_v_;
  void update(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, torch::Tensor& v) const;
};

// Clips the global L2 norm of grads to max_norm (in place); returns the norm
// before clipping.
double clip_global_norm(std::vector<torch::Tensor>& grads, double max_norm);

}  // namespace metacat
