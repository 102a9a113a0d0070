#include "learners/gradient_learner.h"

#include <torch/csrc/autograd/autograd.h>

namespace metacat {

namespace {
bool is_rate(const std::string& n) { return n.rfind("lr.", 0) == 0; }
}  // namespace

GradientLearner::GradientLearner(const Model& model, TaskKind kind, LearnerOptions opt)
    : Learner(model, kind, std::move(opt)) {
  head_only_ = opt_.name == "anil";
  learned_lr_ = opt_.name == "metasgd";
  second_order_ = opt_.name == "maml" || (!opt_.first_order && (head_only_ || learned_lr_));
}

Params GradientLearner::init(uint64_t seed) const {
  Params p = model_.init(seed);
  if (learned_lr_) {
    const size_t n = p.size();
    for (size_t i = 0; i < n; ++i)
      p.add("lr." + p.names[i], torch::full_like(p.tensors[i], opt_.inner_lr));
  }
  return p;
}

std::pair<Params, torch::Tensor> GradientLearner::adapt(const Params& theta, const Episode& ep,
                                                        int64_t steps, bool create_graph) const {
  const Params model_params = theta.filter([](const std::string& n) { return !is_rate(n); });
  Params fast = model_params.filter(
      [&](const std::string& n) { return !head_only_ || Model::is_head(n); });
  // ANIL: the body is not adapted, so its features are computed once.
  torch::Tensor fs, fq;
  if (head_only_) {
    fs = model_.features(model_params, ep.support_x, Mode::kTrain);
    fq = model_.features(model_params, ep.query_x, Mode::kTrain);
  }
  auto output = [&](const Params& full, bool query) {
    if (head_only_) return model_.head(full, query ? fq : fs);
    return model_.forward(full, query ? ep.query_x : ep.support_x, Mode::kTrain);
  };
  for (int64_t k = 0; k < steps; ++k) {
    torch::Tensor loss = task_loss(kind_, output(model_params.with(fast), false), ep.support_y);
    // retain_graph: later steps and the query loss still traverse the graph
    // below `fast` (and ANIL's shared body features).
    auto g = torch::autograd::grad({loss}, fast.tensors, {}, /*retain_graph=*/true, create_graph,
                                   /*allow_unused=*/true);
    for (size_t i = 0; i < fast.size(); ++i) {
      if (!g[i].defined()) continue;
      torch::Tensor step = learned_lr_ ? theta.at("lr." + fast.names[i]) * g[i] : opt_.inner_lr * g[i];
      fast.tensors[i] = fast.tensors[i] - step;
    }
  }
  Params full = model_params.with(fast);
  return {full, output(full, true)};
}

TaskStats GradientLearner::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                                    std::vector<torch::Tensor>& grad) const {
  // First order: inner gradients are computed without a graph, so they enter
  // `fast` as constants, and grad L_q w.r.t. theta is grad L_q at fast (plus,
  // for Meta-SGD, -g (.) grad L_q for the rates).
  auto [fast, out] = adapt(theta, ep, opt_.inner_steps, second_order_);
  torch::Tensor loss = task_loss(kind_, out, ep.query_y);
  auto g = torch::autograd::grad({loss}, theta.tensors, {}, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  add_into(grad, g);
  return stats(out, ep.query_y);
}

torch::Tensor GradientLearner::predict(const Params& theta, const Episode& ep, uint64_t) const {
  Params t = theta.detached(true);
  auto [fast, out] = adapt(t, ep, opt_.eval_inner_steps, /*create_graph=*/false);
  return out.detach();
}

}  // namespace metacat
