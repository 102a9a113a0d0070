#include "learners/baselines.h"

#include <torch/csrc/autograd/autograd.h>

#include "core/error.h"

namespace metacat {

TaskStats FineTune::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                             std::vector<torch::Tensor>& grad) const {
  torch::Tensor x = torch::cat({ep.support_x, ep.query_x});
  torch::Tensor y;
  if (kind_ == TaskKind::kClassification) {
    y = torch::cat({ep.support_joint, ep.query_joint});
    if (y.min().item<int64_t>() < 0)
      throw std::logic_error("joint pre-training on an episode outside the training split");
  } else {
    y = torch::cat({ep.support_y, ep.query_y});
  }
  torch::Tensor out = model_.forward(theta, x, Mode::kTrain);
  torch::Tensor loss = task_loss(kind_, out, y);
  add_into(grad, torch::autograd::grad({loss}, theta.tensors, {}, false, false, true));
  return stats(out, y);
}

torch::Tensor FineTune::predict(const Params& theta, const Episode& ep, uint64_t seed) const {
  Params p = theta;
  if (kind_ == TaskKind::kClassification) {
    if (ep.support_y.numel() == 0) throw UserError("finetune: classification needs support items");
    const int64_t ways = ep.support_y.max().item<int64_t>() + 1;
    p = p.with(model_.init_head(seed, ways).on(theta.tensors.at(0).device()));
  }
  std::vector<std::string> trainable;
  for (const auto& n : p.names)
    if (!opt_.finetune_head_only || Model::is_head(n)) trainable.push_back(n);
  Params tuned = fit_supervised(model_, kind_, p, trainable, ep.support_x, ep.support_y,
                                opt_.finetune_steps, opt_.finetune_lr);
  torch::NoGradGuard ng;
  return model_.forward(tuned, ep.query_x, Mode::kTrain);
}

torch::Tensor predict_from_scratch(const Model& task_model, TaskKind kind,
                                   const LearnerOptions& opt, const Episode& ep, uint64_t seed) {
  Params p = task_model.init(seed).on(ep.query_x.device());
  Params tuned = fit_supervised(task_model, kind, p, p.names, ep.support_x, ep.support_y,
                                opt.scratch_steps, opt.scratch_lr);
  torch::NoGradGuard ng;
  return task_model.forward(tuned, ep.query_x, Mode::kTrain);
}

}  // namespace metacat
