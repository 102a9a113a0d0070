#include "learners/gradient_learner.h"

#include <torch/csrc/autograd/autograd.h>

#include "core/error.h"

namespace metacat {

namespace {
bool is_rate(const std::string& n) { return n.rfind("lr.", 0) == 0; }
bool has_prefix(const std::string& n, const char* p) { return n.rfind(p, 0) == 0; }
// Meta-parameters that are not the model's: Meta-SGD rates, per-step
// rates, descriptor net.
bool meta_only(const std::string& n) {
  return is_rate(n) || has_prefix(n, "lslr.") || has_prefix(n, "desc.");
}
bool is_step_bn(const std::string& n) { return has_prefix(n, "stepbn."); }
std::string step_bn_name(int64_t k, const std::string& n) {
  return "stepbn." + std::to_string(k) + "." + n;
}

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
  proto_head_ = opt_.name == "protomaml";
  second_order_ =
      opt_.name == "maml" || (!opt_.first_order && (head_only_ || learned_lr_ || proto_head_));
  if (proto_head_ && kind != TaskKind::kClassification)
    throw UserError(
        "learner.name: protomaml builds its head from class prototypes: it needs "
        "classification tasks, not " +
        std::string(to_string(kind)));
  if (opt_.inner_params == "context") {
    if (head_only_ || proto_head_)
      throw UserError("learner.inner_params: context: " + opt_.name +
                      " adapts the head; use maml, fomaml or metasgd");
    if (model_.spec().context == 0)
      throw UserError(
          "learner.inner_params: context: the model has no task context (model.context: 0)");
    if (opt_.inner_embeddings)
      throw UserError(
          "learner.inner_embeddings: the inner loop adapts the task context alone "
          "(learner.inner_params: context); use inner_params: dense to adapt the tables too");
  } else if (opt_.inner_params != "dense") {
    throw UserError("learner.inner_params: '" + opt_.inner_params + "' (dense or context)");
  }
  if (opt_.inner_loss != "mean" && opt_.inner_loss != "sum")
    throw UserError("learner.inner_loss: '" + opt_.inner_loss + "' (mean or sum)");
  if (opt_.per_step_rates && learned_lr_)
    throw UserError("learner.per_step_rates: metasgd already learns a rate per parameter");
  if (opt_.per_step_bn) {
    if (!second_order_)
      throw UserError(
          "learner.per_step_bn: a first-order learner gives the batch norm of the support steps "
          "no meta-gradient (it only enters inner gradients, which first order treats as "
          "constants); use maml, or learner.first_order: false");
    if (head_only_)
      throw UserError(
          "learner.per_step_bn: anil does not adapt the body, whose batch norm "
          "would be per step");
    bool any = false;
    for (const auto& n : model_.init(0).names) any = any || Model::is_norm(n);
    if (!any)
      throw UserError("learner.per_step_bn: model " + model_.spec().name +
                      " has no batch-norm parameters");
  }
}

Params GradientLearner::init(uint64_t seed) const {
  Params p = model_.init(seed);
  // Proto-MAML builds its head from the prototypes in every episode.
  if (proto_head_) p = p.filter([](const std::string& n) { return !Model::is_head(n); });
  if (learned_lr_) {  // a rate for every tensor the inner loop adapts
    // (not adapts(): under per_step_bn the dense rule has always made rates
    // for the batch-norm tensors too, and checkpoints hold them)
    const size_t n = p.size();
    for (size_t i = 0; i < n; ++i)
      if (opt_.inner_params == "context"
              ? Model::is_context(p.names[i])
              : opt_.inner_embeddings || !Model::is_embedding(p.names[i]))
        p.add("lr." + p.names[i], torch::full_like(p.tensors[i], opt_.inner_lr));
  }
  if (opt_.per_step_bn) {
    const size_t n = p.size();
    for (int64_t k = 1; k <= opt_.inner_steps; ++k)
      for (size_t i = 0; i < n; ++i)
        if (Model::is_norm(p.names[i])) p.add(step_bn_name(k, p.names[i]), p.tensors[i].clone());
  }
  if (opt_.per_step_rates) {
    std::vector<std::string> names = adapted(p).names;
    if (proto_head_) names.insert(names.end(), {"head.weight", "head.bias"});
    for (const auto& n : names)
      p.add("lslr." + n, torch::full({opt_.inner_steps}, opt_.inner_lr, p.tensors[0].options()));
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

Params GradientLearner::prototype_head(const torch::Tensor& fs, const torch::Tensor& labels,
                                       int64_t ways) {
  // onehot^T fs / counts: the class means, one batched product.
  const bool batched = fs.dim() == 3;
  torch::Tensor onehot = torch::one_hot(labels, ways).to(fs.scalar_type());  // [(T,) n, ways]
  torch::Tensor counts = onehot.sum(batched ? 1 : 0).clamp_min(1).unsqueeze(-1);
  torch::Tensor protos = torch::matmul(onehot.transpose(-1, -2), fs) / counts;  // [(T,) ways, F]
  Params h;
  h.add("head.weight", 2 * protos);
  h.add("head.bias", -protos.pow(2).sum(-1));
  return h;
}

Params GradientLearner::model_params(const Params& theta, const EpisodeBatch& b) const {
  Params m = expand(theta.filter([](const std::string& n) { return !meta_only(n); }), b);
  if (proto_head_) {
    if (support_size(b) == 0)
      throw UserError(
          "protomaml: the head is built from the support set: it needs task.shots >= 1");
    const Params head = prototype_head(features(m, b, false), b.sy, model_.outputs());
    // The inner loop differentiates the support loss w.r.t. the body with
    // the head held fixed: give the body new graph nodes (views), so that
    // those gradients do not also flow back through the prototypes.
    for (auto& t : m.tensors) t = t.view(t.sizes());
    for (size_t i = 0; i < head.size(); ++i) m.add(head.names[i], head.tensors[i]);
  }
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

bool GradientLearner::adapts(const std::string& n) const {
  if (opt_.inner_params == "context") return Model::is_context(n);
  if (is_step_bn(n) || (opt_.per_step_bn && Model::is_norm(n))) return false;
  if (!opt_.inner_embeddings && Model::is_embedding(n)) return false;
  return !head_only_ || Model::is_head(n);
}

Params GradientLearner::adapted(const Params& model) const {
  return model.filter([&](const std::string& n) { return adapts(n); });
}

Params GradientLearner::model_at(const Params& model, int64_t k) const {
  const int64_t j = std::min(k, opt_.inner_steps);
  if (!opt_.per_step_bn || j == 0) return model;
  Params m = model;
  for (size_t i = 0; i < m.size(); ++i)
    if (Model::is_norm(m.names[i])) m.tensors[i] = model.at(step_bn_name(j, m.names[i]));
  return m;
}

std::vector<double> GradientLearner::step_loss_weights(int64_t step) const {
  const int64_t K = opt_.inner_steps;
  std::vector<double> w(K, 0.0);
  if (K == 0) return w;
  w[K - 1] = 1.0;
  if (!opt_.multi_step_loss || K == 1) return w;
  const double a =
      opt_.multi_step_anneal > 0
          ? std::min(1.0, static_cast<double>(step) / static_cast<double>(opt_.multi_step_anneal))
          : 1.0;
  const double early = (1.0 - a) / K + a * 0.03 / K;
  for (int64_t k = 0; k + 1 < K; ++k) w[k] = early;
  w[K - 1] = 1.0 - early * static_cast<double>(K - 1);
  return w;
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

torch::Tensor GradientLearner::query_loss(const Params& model, const Params& fast, int64_t k,
                                          const EpisodeBatch& b, const torch::Tensor& fq,
                                          torch::Tensor* out) const {
  torch::Tensor o = output(model_at(model, k).with(fast), b, true, fq);
  if (out) *out = o;
  return loss(o, b.qy, b);
}

Params GradientLearner::step(const Params& theta, const Params& model, const Params& fast,
                             const torch::Tensor& fs, const EpisodeBatch& b, bool create_graph,
                             int64_t k) const {
  torch::Tensor l = loss(output(model_at(model, k).with(fast), b, false, fs), b.sy, b);
  if (opt_.inner_loss == "sum") l = l * static_cast<double>(support_size(b));
  // retain_graph: later steps and the query loss still traverse the graph
  // below `fast` (and ANIL's shared body features).
  auto g = torch::autograd::grad({l}, fast.tensors, {}, /*retain_graph=*/true, create_graph,
                                 /*allow_unused=*/true);
  Params next = fast;
  const int64_t rate_step = std::min(k, opt_.inner_steps - 1);
  for (size_t i = 0; i < fast.size(); ++i) {
    if (!g[i].defined()) continue;
    // One fused op per tensor (and one node in the graph second order
    // differentiates through). Meta-SGD's rates broadcast over tasks.
    const std::string& n = fast.names[i];
    if (learned_lr_)
      next.tensors[i] = torch::addcmul(fast.tensors[i], theta.at("lr." + n), g[i], -1.0);
    else if (opt_.per_step_rates)
      next.tensors[i] =
          torch::addcmul(fast.tensors[i], theta.at("lslr." + n).select(0, rate_step), g[i], -1.0);
    else
      next.tensors[i] = torch::sub(fast.tensors[i], g[i], opt_.inner_lr);
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
  for (int64_t k = 0; k < steps; ++k) fast = step(theta, model, fast, fs, b, create_graph, k);
  Params full = model_at(model, steps).with(fast);
  return {full, output(full, b, true, fq)};
}

torch::Tensor GradientLearner::accumulate(const Params& theta, const EpisodeBatch& b,
                                          std::vector<torch::Tensor>& grad) const {
  if (second_order_ && opt_.recompute) return accumulate_recomputed(theta, b, grad);
  // First order: inner gradients are computed without a graph, so they enter
  // `fast` as constants, and grad L_q w.r.t. theta is grad L_q at fast (plus,
  // for Meta-SGD, -g (.) grad L_q for the rates).
  const int64_t K = support_size(b) == 0 ? 0 : opt_.inner_steps;
  const std::vector<double> w = step_loss_weights(meta_step_);
  const Params model = model_params(theta, b);
  Params fast = adapted(model);
  torch::Tensor fs, fq;
  if (head_only_) {
    if (K > 0) fs = features(model, b, false);
    fq = features(model, b, true);
  }
  torch::Tensor meta_loss;
  for (int64_t k = 0; k < K; ++k) {
    fast = step(theta, model, fast, fs, b, second_order_, k);
    if (k + 1 < K && w[k] > 0) {  // multi-step loss: the query loss at this iterate too
      torch::Tensor l = w[k] * query_loss(model, fast, k + 1, b, fq, nullptr);
      meta_loss = meta_loss.defined() ? meta_loss + l : l;
    }
  }
  torch::Tensor out;
  torch::Tensor l = query_loss(model, fast, K, b, fq, &out);
  if (K > 0 && w[K - 1] != 1.0) l = w[K - 1] * l;
  meta_loss = meta_loss.defined() ? meta_loss + l : l;
  auto g = torch::autograd::grad({meta_loss}, theta.tensors, {}, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  add_into(grad, g);
  return out;
}

torch::Tensor GradientLearner::accumulate_recomputed(const Params& theta, const EpisodeBatch& b,
                                                     std::vector<torch::Tensor>& grad) const {
  const int64_t K = support_size(b) == 0 ? 0 : opt_.inner_steps;
  const std::vector<double> w = step_loss_weights(meta_step_);
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
      fast = step(constant, model, fast.detached(true), fs, b, /*create_graph=*/false, k)
                 .detached(false);
    }
  }
  // Query loss at fast_K: its gradient w.r.t. fast_K is the first adjoint,
  // and theta collects its direct part (ANIL's body through the features,
  // the per-step batch norm of iterate K).
  Params leaf = fast.detached(true);
  torch::Tensor out;
  std::vector<torch::Tensor> adj;
  {
    const Params model = model_params(theta, b);
    torch::Tensor fq;
    if (head_only_) fq = features(model, b, true);
    torch::Tensor l = query_loss(model, leaf, K, b, fq, &out);
    if (K > 0 && w[K - 1] != 1.0) l = w[K - 1] * l;
    auto g =
        torch::autograd::grad({l}, concat(leaf.tensors, theta.tensors), {}, false, false, true);
    adj.assign(g.begin(), g.begin() + leaf.size());
    add_into(grad, std::vector<torch::Tensor>(g.begin() + leaf.size(), g.end()));
  }
  // Backward through the steps, newest first, one step's graph at a time.
  // With the multi-step loss, iterate k's own weighted query loss joins the
  // adjoint that flows on to iterate k - 1.
  for (int64_t k = K - 1; k >= 0; --k) {
    Params x = iterates[k].detached(true);
    const Params model = model_params(theta, b);
    torch::Tensor fs, fq;
    if (head_only_) fs = features(model, b, false);
    Params y = step(theta, model, x, fs, b, /*create_graph=*/true, k);
    std::vector<torch::Tensor> outs, seeds;
    for (size_t i = 0; i < y.size(); ++i) {
      if (!adj[i].defined()) adj[i] = torch::zeros_like(y.tensors[i]);
      outs.push_back(y.tensors[i]), seeds.push_back(adj[i]);
    }
    if (k >= 1 && w[k - 1] > 0) {
      if (head_only_) fq = features(model, b, true);
      outs.push_back(w[k - 1] * query_loss(model, x, k, b, fq, nullptr));
      seeds.push_back(torch::ones({}, outs.back().options()));
    }
    auto g =
        torch::autograd::grad(outs, concat(x.tensors, theta.tensors), seeds, false, false, true);
    adj.assign(g.begin(), g.begin() + x.size());
    add_into(grad, std::vector<torch::Tensor>(g.begin() + x.size(), g.end()));
  }
  // fast_0 is a function of theta (its adapted subset, expanded over tasks
  // when batched, plus the descriptor network's offset or the prototype
  // head): pull the adjoint back to theta through it.
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
