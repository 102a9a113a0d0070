#include "learners/gradient_learner.h"

#include <torch/csrc/autograd/autograd.h>

namespace metacat {

namespace {
bool is_rate(const std::string& n) { return n.rfind("lr.", 0) == 0; }

std::vector<torch::Tensor> concat(std::vector<torch::Tensor> a, const std::vector<torch::Tensor>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
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

Params GradientLearner::model_params(const Params& theta, const EpisodeBatch& b) const {
  return expand(theta.filter([](const std::string& n) { return !is_rate(n); }), b);
}

Params GradientLearner::adapted(const Params& model) const {
  return model.filter([&](const std::string& n) { return !head_only_ || Model::is_head(n); });
}

torch::Tensor GradientLearner::features(const Params& model, const EpisodeBatch& b, bool query) const {
  const torch::Tensor& x = query ? b.qx : b.sx;
  return b.batched ? model_.features_batched(model, x, Mode::kTrain) : model_.features(model, x, Mode::kTrain);
}

torch::Tensor GradientLearner::output(const Params& full, const EpisodeBatch& b, bool query,
                                      const torch::Tensor& f) const {
  if (head_only_) return b.batched ? model_.head_batched(full, f) : model_.head(full, f);
  const torch::Tensor& x = query ? b.qx : b.sx;
  return b.batched ? model_.forward_batched(full, x, Mode::kTrain) : model_.forward(full, x, Mode::kTrain);
}

Params GradientLearner::step(const Params& theta, const Params& model, const Params& fast,
                             const torch::Tensor& fs, const EpisodeBatch& b, bool create_graph) const {
  torch::Tensor l = loss(output(model.with(fast), b, false, fs), b.sy, b);
  // retain_graph: later steps and the query loss still traverse the graph
  // below `fast` (and ANIL's shared body features).
  auto g = torch::autograd::grad({l}, fast.tensors, {}, /*retain_graph=*/true, create_graph,
                                 /*allow_unused=*/true);
  Params next = fast;
  for (size_t i = 0; i < fast.size(); ++i) {
    if (!g[i].defined()) continue;
    // One fused op per tensor (and one node in the graph second order
    // differentiates through). Meta-SGD's rates broadcast over tasks.
    next.tensors[i] = learned_lr_ ? torch::addcmul(fast.tensors[i], theta.at("lr." + fast.names[i]), g[i], -1.0)
                                  : torch::sub(fast.tensors[i], g[i], opt_.inner_lr);
  }
  return next;
}

std::pair<Params, torch::Tensor> GradientLearner::adapt(const Params& theta, const EpisodeBatch& b,
                                                        int64_t steps, bool create_graph) const {
  const Params model = model_params(theta, b);
  Params fast = adapted(model);
  // ANIL: the body is not adapted, so its features are computed once.
  torch::Tensor fs, fq;
  if (head_only_) fs = features(model, b, false), fq = features(model, b, true);
  for (int64_t k = 0; k < steps; ++k) fast = step(theta, model, fast, fs, b, create_graph);
  Params full = model.with(fast);
  return {full, output(full, b, true, fq)};
}

torch::Tensor GradientLearner::accumulate(const Params& theta, const EpisodeBatch& b,
                                          std::vector<torch::Tensor>& grad) const {
  if (second_order_ && opt_.recompute) return accumulate_recomputed(theta, b, grad);
  // First order: inner gradients are computed without a graph, so they enter
  // `fast` as constants, and grad L_q w.r.t. theta is grad L_q at fast (plus,
  // for Meta-SGD, -g (.) grad L_q for the rates).
  auto [fast, out] = adapt(theta, b, opt_.inner_steps, second_order_);
  torch::Tensor l = loss(out, b.qy, b);
  auto g = torch::autograd::grad({l}, theta.tensors, {}, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  add_into(grad, g);
  return out;
}

torch::Tensor GradientLearner::accumulate_recomputed(const Params& theta, const EpisodeBatch& b,
                                                     std::vector<torch::Tensor>& grad) const {
  const int64_t K = opt_.inner_steps;
  // Forward without a graph across steps: keep the iterates fast_0..fast_{K-1}.
  std::vector<Params> iterates;
  Params fast;
  {
    const Params constant = theta.detached(false);
    const Params model = model_params(constant, b);
    torch::Tensor fs;
    if (head_only_) {
      torch::NoGradGuard ng;
      fs = features(model, b, false);
    }
    fast = adapted(model).detached(false);
    for (int64_t k = 0; k < K; ++k) {
      iterates.push_back(fast);
      fast = step(constant, model, fast.detached(true), fs, b, /*create_graph=*/false).detached(false);
    }
  }
  // Query loss at fast_K: its gradient w.r.t. fast_K is the first adjoint,
  // and theta collects its direct part (ANIL's body through the features).
  Params leaf = fast.detached(true);
  torch::Tensor out;
  std::vector<torch::Tensor> adj;
  {
    const Params model = model_params(theta, b);
    torch::Tensor fq;
    if (head_only_) fq = features(model, b, true);
    out = output(model.with(leaf), b, true, fq);
    auto g = torch::autograd::grad({loss(out, b.qy, b)}, concat(leaf.tensors, theta.tensors), {},
                                   false, false, true);
    adj.assign(g.begin(), g.begin() + leaf.size());
    add_into(grad, std::vector<torch::Tensor>(g.begin() + leaf.size(), g.end()));
  }
  // Backward through the steps, newest first, one step's graph at a time.
  for (int64_t k = K - 1; k >= 0; --k) {
    Params x = iterates[k].detached(true);
    const Params model = model_params(theta, b);
    torch::Tensor fs;
    if (head_only_) fs = features(model, b, false);
    Params y = step(theta, model, x, fs, b, /*create_graph=*/true);
    std::vector<torch::Tensor> outs, seeds;
    for (size_t i = 0; i < y.size(); ++i) {
      if (!adj[i].defined()) adj[i] = torch::zeros_like(y.tensors[i]);
      outs.push_back(y.tensors[i]), seeds.push_back(adj[i]);
    }
    auto g = torch::autograd::grad(outs, concat(x.tensors, theta.tensors), seeds, false, false, true);
    adj.assign(g.begin(), g.begin() + x.size());
    add_into(grad, std::vector<torch::Tensor>(g.begin() + x.size(), g.end()));
  }
  // fast_0 is theta's adapted subset (expanded over tasks when batched).
  torch::NoGradGuard ng;
  for (size_t i = 0; i < fast.size(); ++i) {
    if (!adj[i].defined()) continue;
    torch::Tensor& acc = grad[theta.index_of(fast.names[i])];
    acc.add_(b.batched ? adj[i].sum(0) : adj[i]);
  }
  return out.detach();
}

TaskStats GradientLearner::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                                    std::vector<torch::Tensor>& grad) const {
  return stats(accumulate(theta, single_episode(ep), grad), ep.query_y);
}

torch::Tensor GradientLearner::accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                                  std::vector<torch::Tensor>& grad) const {
  return accumulate(theta, b, grad);
}

torch::Tensor GradientLearner::predict(const Params& theta, const Episode& ep, uint64_t) const {
  Params t = theta.detached(true);
  auto [fast, out] = adapt(t, single_episode(ep), opt_.eval_inner_steps, /*create_graph=*/false);
  return out.detach();
}

}  // namespace metacat
