#include "learners/gradient_learner.h"

#include <torch/csrc/autograd/autograd.h>

#include "core/error.h"

namespace metacat {

namespace {
bool is_rate(const std::string& n) { return n.rfind("lr.", 0) == 0; }
// Meta-parameters that are not the model's: Meta-SGD rates, descriptor net.
bool meta_only(const std::string& n) { return is_rate(n) || n.rfind("desc.", 0) == 0; }

int64_t support_size(const EpisodeBatch& b) { return b.sx.size(b.batched ? 1 : 0); }

std::vector<torch::Tensor> concat(std::vector<torch::Tensor> a,
                                  const std::vector<torch::Tensor>& b) {
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
  if (opt_.descriptor_init) {
    // descriptor -> hidden ReLU layers -> offsets of every head tensor. The
    // last layer starts at zero: the initial start is the plain one.
    int64_t in = opt_.descriptor_dim, out = 0, k = 0;
    for (const auto& n : p.names)
      if (Model::is_head(n)) out += p.at(n).numel();
    for (int64_t h : opt_.descriptor_hidden) {
      const std::string name = "desc." + std::to_string(k);
      p.add(name + ".weight", model_.uniform_init(seed, 5000 + 2 * k, {h, in}, in));
      p.add(name + ".bias", model_.uniform_init(seed, 5001 + 2 * k, {h}, in));
      in = h, ++k;
    }
    const std::string name = "desc." + std::to_string(k);
    p.add(name + ".weight", torch::zeros({out, in}, p.tensors[0].options()));
    p.add(name + ".bias", torch::zeros({out}, p.tensors[0].options()));
  }
  return p;
}

Params GradientLearner::model_params(const Params& theta, const EpisodeBatch& b) const {
  Params m = expand(theta.filter([](const std::string& n) { return !meta_only(n); }), b);
  if (!opt_.descriptor_init) return m;
  if (!b.desc.defined())
    throw UserError("learner.descriptor_init: an episode came without a category descriptor");
  // The descriptor network's output is the offset of the head's start.
  torch::Tensor h = b.batched ? b.desc : b.desc.unsqueeze(0);  // [T, D]
  const int64_t layers = static_cast<int64_t>(opt_.descriptor_hidden.size()) + 1;
  for (int64_t k = 0; k < layers; ++k) {
    const std::string name = "desc." + std::to_string(k);
    h = torch::linear(h, theta.at(name + ".weight"), theta.at(name + ".bias"));
    if (k + 1 < layers) h = torch::relu(h);
  }
  int64_t off = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (!Model::is_head(m.names[i])) continue;
    const torch::Tensor& t = m.tensors[i];
    const int64_t n = t.numel() / (b.batched ? b.tasks : 1);
    m.tensors[i] = t + h.narrow(1, off, n).reshape(t.sizes());
    off += n;
  }
  return m;
}

Params GradientLearner::adapted(const Params& model) const {
  return model.filter([&](const std::string& n) { return !head_only_ || Model::is_head(n); });
}

torch::Tensor GradientLearner::features(const Params& model, const EpisodeBatch& b,
                                        bool query) const {
  const torch::Tensor& x = query ? b.qx : b.sx;
  return b.batched ? model_.features_batched(model, x, Mode::kTrain)
                   : model_.features(model, x, Mode::kTrain);
}

torch::Tensor GradientLearner::output(const Params& full, const EpisodeBatch& b, bool query,
                                      const torch::Tensor& f) const {
  if (head_only_) return b.batched ? model_.head_batched(full, f) : model_.head(full, f);
  const torch::Tensor& x = query ? b.qx : b.sx;
  return b.batched ? model_.forward_batched(full, x, Mode::kTrain)
                   : model_.forward(full, x, Mode::kTrain);
}

Params GradientLearner::step(const Params& theta, const Params& model, const Params& fast,
                             const torch::Tensor& fs, const EpisodeBatch& b,
                             bool create_graph) const {
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
    next.tensors[i] =
        learned_lr_ ? torch::addcmul(fast.tensors[i], theta.at("lr." + fast.names[i]), g[i], -1.0)
                    : torch::sub(fast.tensors[i], g[i], opt_.inner_lr);
  }
  return next;
}

std::pair<Params, torch::Tensor> GradientLearner::adapt(const Params& theta, const EpisodeBatch& b,
                                                        int64_t steps, bool create_graph) const {
  const Params model = model_params(theta, b);
  Params fast = adapted(model);
  if (support_size(b) == 0) steps = 0;  // zero-shot: the start itself
  // ANIL: the body is not adapted, so its features are computed once.
  torch::Tensor fs, fq;
  if (head_only_) {
    if (steps > 0) fs = features(model, b, false);
    fq = features(model, b, true);
  }
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
  const int64_t K = support_size(b) == 0 ? 0 : opt_.inner_steps;
  // Forward without a graph across steps: keep the iterates fast_0..fast_{K-1}.
  std::vector<Params> iterates;
  Params fast;
  {
    const Params constant = theta.detached(false);
    const Params model = model_params(constant, b);
    torch::Tensor fs;
    if (head_only_ && K > 0) {
      torch::NoGradGuard ng;
      fs = features(model, b, false);
    }
    fast = adapted(model).detached(false);
    for (int64_t k = 0; k < K; ++k) {
      iterates.push_back(fast);
      fast =
          step(constant, model, fast.detached(true), fs, b, /*create_graph=*/false).detached(false);
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
    auto g =
        torch::autograd::grad(outs, concat(x.tensors, theta.tensors), seeds, false, false, true);
    adj.assign(g.begin(), g.begin() + x.size());
    add_into(grad, std::vector<torch::Tensor>(g.begin() + x.size(), g.end()));
  }
  // fast_0 is a function of theta (its adapted subset, expanded over tasks
  // when batched, plus the descriptor network's offset): pull the adjoint
  // back to theta through it.
  const Params start = adapted(model_params(theta, b));
  std::vector<torch::Tensor> outs, seeds;
  for (size_t i = 0; i < start.size(); ++i)
    if (adj[i].defined()) outs.push_back(start.tensors[i]), seeds.push_back(adj[i]);
  if (!outs.empty())
    add_into(grad, torch::autograd::grad(outs, theta.tensors, seeds, false, false, true));
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
