#pragma once
// The learner interface: every meta-learner and baseline, one contract.
// Which learners exist, and what each can do: config/learners.h.
//
// Meta-parameters are the model's parameters plus any the learner adds (Meta-
// SGD's per-parameter rates, named "lr.<param>"). A learner never mutates
// theta: accumulate_meta_gradient *adds* this task's meta-gradient into
// `grad` (one tensor per meta-parameter, same order and shapes as theta), so
// that a rank sums its tasks into one buffer that is then all-reduced. The
// trainer divides by the meta-batch size B and steps the outer optimiser.
// theta's tensors must be leaves with requires_grad set (docs/ARCHITECTURE.md,
// invariant 1: functional parameters).
#include <memory>
#include <string>
#include <vector>

#include "core/exact_sum.h"
#include "core/model.h"
#include "core/params.h"
#include "episodes/task_source.h"

namespace metacat {

struct LearnerOptions {
  std::string name = "maml";
  double inner_lr = 0.4;
  int64_t inner_steps = 1;
  int64_t eval_inner_steps = 1;
  bool first_order = false;
  // batched: the inner loops of all episodes a rank holds in a meta-step run
  // as one set of task-batched tensor operations; per_task: one at a time;
  // auto: batched where it was measured faster (Model::batched_pays_off).
  std::string inner_loop = "auto";
  // Second-order learners: keep only the inner iterates and recompute each
  // step's graph during the backward pass: activation memory flat in
  // inner_steps (the k iterates, parameter-sized, are kept).
  bool recompute = false;
  // Per-task inner loops of a rank's episodes run concurrently, one per
  // thread of the rank's budget (each op on one thread), instead of one at
  // a time with every op split over the threads.
  bool task_parallel = true;
  // maml/fomaml/anil/metasgd: a network descriptor -> the head's starting
  // offset, meta-learned through the inner loop ("desc.*" parameters);
  // descriptor_dim is the data's descriptor length.
  bool descriptor_init = false;
  std::vector<int64_t> descriptor_hidden = {32};
  int64_t descriptor_dim = 0;
  // MAML++ (Antoniou et al. 2019), gradient-family learners:
  // per_step_rates: a learned inner rate per adapted tensor and inner step
  // ("lslr.<param>", shape [inner_steps], initialised to inner_lr); steps
  // past inner_steps (evaluation) use the last step's rates.
  bool per_step_rates = false;
  // Embedding models: the MAML-family inner loops also adapt the embedding
  // tables and sequence encoders (default: the dense layers only, as MeLU).
  bool inner_embeddings = false;
  // What the MAML-family inner loops adapt: dense (the dense layers and, if
  // the model has one, the task context; the tables too with
  // inner_embeddings) or context (the task context alone, model.context:
  // CAVIA, Zintgraf et al. 2019).
  std::string inner_params = "dense";
  // The inner loop's support loss: mean (over the support items) or sum
  // (the step grows with the support set: each example adds its own
  // gradient, where the mean gives one example the weight of ten).
  std::string inner_loss = "mean";
  // per_step_bn: batch-norm scales and shifts of their own for the
  // parameters after each inner step ("stepbn.<k>.<param>", k = 1..inner_steps;
  // k = 0 is the model's own), meta-learned and not adapted in the inner loop.
  bool per_step_bn = false;
  // multi_step_loss: the meta-loss weighs the query loss after every inner
  // step; the weights start equal and anneal linearly over
  // multi_step_anneal meta-steps towards the last step alone (the earlier
  // ones keep 0.03 / inner_steps each).
  bool multi_step_loss = false;
  int64_t multi_step_anneal = 100;
  // protonet: "none", "l2" (every embedding rescaled to norm sqrt(dim)) or
  // "centered_l2" (the episode's mean embedding, over its support and query
  // items, subtracted first).
  std::string embedding_norm = "none";
  // finetune / scratch baselines: Adam on the support set.
  double finetune_lr = 0.01;
  int64_t finetune_steps = 50;
  bool finetune_head_only = true;
  double scratch_lr = 0.01;
  int64_t scratch_steps = 50;
};

struct TaskStats {
  double loss = 0;    // query loss (at the adapted parameters)
  double metric = 0;  // primary metric of the query set
};

// The inputs of one inner loop: one episode (tasks = 1, not batched), or T
// episodes of equal shapes stacked along a leading task dimension.
struct EpisodeBatch {
  bool batched = false;
  int64_t tasks = 1;
  torch::Tensor sx, sy, qx, qy;
  torch::Tensor desc;  // [D] or [T, D]; undefined without descriptors
};
EpisodeBatch single_episode(const Episode& ep);
// True when every episode has the same support and query shapes.
bool stackable(const std::vector<Episode>& eps);
EpisodeBatch stack_episodes(const std::vector<Episode>& eps);

class Learner {
 public:
  Learner(const Model& model, TaskKind kind, LearnerOptions opt)
      : model_(model), kind_(kind), opt_(std::move(opt)) {}
  virtual ~Learner() = default;
  const std::string& name() const { return opt_.name; }
  const LearnerOptions& options() const { return opt_; }
  const Model& model() const { return model_; }

  virtual Params init(uint64_t seed) const { return model_.init(seed); }
  // The meta-step about to be accumulated (the trainer sets it before each
  // step): learners whose objective changes over training read it.
  void set_meta_step(int64_t step) { meta_step_ = step; }
  int64_t meta_step() const { return meta_step_; }
  virtual TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                             std::vector<torch::Tensor>& grad) const = 0;
  // The same for all episodes a rank holds in one meta-step, one TaskStats
  // per episode. Runs them task-batched when batching() says so, else one
  // at a time.
  std::vector<TaskStats> accumulate_meta_gradients(const Params& theta,
                                                   const std::vector<Episode>& eps,
                                                   std::vector<torch::Tensor>& grad) const;
  // comm.reduction: exact. Each episode's meta-gradient on its own, never
  // task-batched, with one intra-op thread whatever the rank's thread count
  // (episodes spread over the rank's threads when learner.task_parallel),
  // added into `sum` exactly: the result is the same bits whichever episodes
  // this rank holds, in any order. CPU parameters only.
  std::vector<TaskStats> accumulate_exact(const Params& theta, const std::vector<Episode>& eps,
                                          ExactSum& sum) const;
  // Whether these episodes run task-batched (learner.inner_loop).
  bool batching(const std::vector<Episode>& eps) const;
  // Adapts to ep's support set and returns outputs on its query items.
  // `seed` seeds anything random the adaptation needs (e.g. a fresh head).
  virtual torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const = 0;

 protected:
  // Task-batched meta-gradient of a stacked batch, returning the query
  // outputs [T, q, outputs]; only called when supports_batched().
  virtual torch::Tensor accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                           std::vector<torch::Tensor>& grad) const;
  virtual bool supports_batched() const { return false; }
  TaskStats stats(const torch::Tensor& out, const torch::Tensor& y) const;
  // Per-task stats of batched outputs [T, q, outputs] against y [T, q].
  std::vector<TaskStats> batch_stats(const torch::Tensor& out, const torch::Tensor& y) const;
  // The loss of one episode, or the sum over tasks of each task's loss.
  torch::Tensor loss(const torch::Tensor& out, const torch::Tensor& y, const EpisodeBatch& b) const;
  // theta for the inner loop: itself, or each tensor expanded to [T, ...].
  static Params expand(const Params& theta, const EpisodeBatch& b);
  // Adds g (may be undefined: no gradient) into acc.
  static void add_into(std::vector<torch::Tensor>& acc, const std::vector<torch::Tensor>& g);
  const Model& model_;
  TaskKind kind_;
  LearnerOptions opt_;
  int64_t meta_step_ = 0;

 private:
  // One gradient buffer per task-parallel worker, kept across steps.
  mutable std::vector<std::vector<torch::Tensor>> worker_grads_;
  // Zeroed gradient buffers, one per worker, shaped like grad.
  void reset_worker_grads(int workers, const std::vector<torch::Tensor>& grad) const;
};

std::unique_ptr<Learner> make_learner(const Model& model, TaskKind kind, const LearnerOptions& opt);

// Supervised training of `trainable` (a subset of params, by name) on (x, y)
// with Adam for `steps` steps; returns params with those tensors replaced.
// Used by the fine-tuning and from-scratch baselines.
Params fit_supervised(const Model& model, TaskKind kind, const Params& params,
                      const std::vector<std::string>& trainable, const torch::Tensor& x,
                      const torch::Tensor& y, int64_t steps, double lr);

}  // namespace metacat
