#include "learners/learner.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>

#include "core/error.h"
#include "core/optimizer.h"
#include "learners/baselines.h"
#include "learners/gradient_learner.h"
#include "learners/protonet.h"
#include "learners/reptile.h"

namespace metacat {

TaskStats Learner::stats(const torch::Tensor& out, const torch::Tensor& y) const {
  torch::NoGradGuard ng;
  TaskStats s;
  auto m = task_metrics(kind_, out.detach(), y);
  s.loss = m["loss"];
  s.metric = m[primary_metric(kind_)];
  return s;
}

void Learner::add_into(std::vector<torch::Tensor>& acc, const std::vector<torch::Tensor>& g) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < acc.size(); ++i)
    if (g[i].defined()) acc[i].add_(g[i]);
}

std::unique_ptr<Learner> make_learner(const Model& model, TaskKind kind, const LearnerOptions& o) {
  if (o.name == "maml" || o.name == "fomaml" || o.name == "anil" || o.name == "metasgd")
    return std::make_unique<GradientLearner>(model, kind, o);
  if (o.name == "reptile") return std::make_unique<Reptile>(model, kind, o);
  if (o.name == "protonet") {
    if (kind != TaskKind::kClassification)
      throw UserError("learner.name: protonet needs classification tasks, not " +
                      std::string(to_string(kind)));
    return std::make_unique<ProtoNet>(model, kind, o);
  }
  if (o.name == "finetune") return std::make_unique<FineTune>(model, kind, o);
  throw UserError("learner.name: unknown learner '" + o.name + "'");
}

Params fit_supervised(const Model& model, TaskKind kind, const Params& params,
                      const std::vector<std::string>& trainable, const torch::Tensor& x,
                      const torch::Tensor& y, int64_t steps, double lr) {
  Params train = params.filter([&](const std::string& n) {
    return std::find(trainable.begin(), trainable.end(), n) != trainable.end();
  }).detached(true);
  Params fixed = params.detached(false);
  OptimizerSpec spec;
  spec.lr = lr;
  Optimizer opt(spec, train.tensors);
  // Training only the head: the body's features do not change, compute them once.
  const bool head_only = std::all_of(trainable.begin(), trainable.end(), Model::is_head);
  torch::Tensor features;
  if (head_only) {
    torch::NoGradGuard ng;
    features = model.features(fixed, x, Mode::kTrain);
  }
  for (int64_t s = 0; s < steps; ++s) {
    const Params p = fixed.with(train);
    torch::Tensor out = head_only ? model.head(p, features) : model.forward(p, x, Mode::kTrain);
    torch::Tensor loss = task_loss(kind, out, y);
    auto g = torch::autograd::grad({loss}, train.tensors);
    opt.step(train.tensors, g);
  }
  return fixed.with(train.detached(false));
}

}  // namespace metacat
