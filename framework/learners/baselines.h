#pragma once
// Baselines, evaluated with the same protocol as the meta-learners.
//
//   finetune  training: one model pre-trained jointly on all training
//             categories (classification: one head over all training classes,
//             labels Episode::*_joint; other kinds: the task's own labels);
//             evaluation: for classification a fresh N-way head, then Adam on
//             the support set (head only, or all parameters).
//   scratch   no training: a randomly initialised model trained with Adam on
//             the support set only.
#include "learners/learner.h"

namespace metacat {

class FineTune : public Learner {
 public:
  using Learner::Learner;
  TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                     std::vector<torch::Tensor>& grad) const override;
  // model: the task model (ways outputs) used at evaluation.
  torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const override;
};

// The from-scratch baseline's query outputs on one episode.
torch::Tensor predict_from_scratch(const Model& task_model, TaskKind kind,
                                   const LearnerOptions& opt, const Episode& ep, uint64_t seed);

}  // namespace metacat
