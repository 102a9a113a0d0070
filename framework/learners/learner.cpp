#include "learners/learner.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <mutex>

#include "config/learners.h"
#include "core/error.h"
#include "core/optimizer.h"
#include "core/threads.h"
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

EpisodeBatch single_episode(const Episode& ep) {
  EpisodeBatch b;
  b.sx = ep.support_x, b.sy = ep.support_y, b.qx = ep.query_x, b.qy = ep.query_y;
  b.desc = ep.descriptor;
  return b;
}

bool stackable(const std::vector<Episode>& eps) {
  for (const auto& e : eps)
    if (e.support_x.sizes() != eps[0].support_x.sizes() ||
        e.query_x.sizes() != eps[0].query_x.sizes() ||
        e.support_y.sizes() != eps[0].support_y.sizes() ||
        e.query_y.sizes() != eps[0].query_y.sizes() ||
        e.descriptor.defined() != eps[0].descriptor.defined())
      return false;
  return !eps.empty();
}

EpisodeBatch stack_episodes(const std::vector<Episode>& eps) {
  EpisodeBatch b;
  b.batched = true;
  b.tasks = static_cast<int64_t>(eps.size());
  std::vector<torch::Tensor> sx, sy, qx, qy;
  for (const auto& e : eps) {
    sx.push_back(e.support_x), sy.push_back(e.support_y);
    qx.push_back(e.query_x), qy.push_back(e.query_y);
  }
  b.sx = torch::stack(sx), b.sy = torch::stack(sy), b.qx = torch::stack(qx),
  b.qy = torch::stack(qy);
  if (eps[0].descriptor.defined()) {
    std::vector<torch::Tensor> d;
    for (const auto& e : eps) d.push_back(e.descriptor);
    b.desc = torch::stack(d);
  }
  return b;
}

bool Learner::batching(const std::vector<Episode>& eps) const {
  if (!supports_batched() || opt_.inner_loop == "per_task" || eps.size() < 2 || !stackable(eps))
    return false;
  return opt_.inner_loop == "batched" || model_.batched_pays_off();
}

std::vector<TaskStats> Learner::accumulate_meta_gradients(const Params& theta,
                                                          const std::vector<Episode>& given,
                                                          std::vector<torch::Tensor>& grad) const {
  // Episodes meet the parameters on their device (the trainer uploads them
  // ahead; other callers may hand over host episodes).
  std::vector<Episode> moved;
  const torch::Device device = theta.tensors.at(0).device();
  if (!given.empty() && given[0].support_x.defined() && given[0].support_x.device() != device)
    for (const Episode& e : given) moved.push_back(on_device(e, device));
  const std::vector<Episode>& eps = moved.empty() ? given : moved;
  if (!batching(eps)) {
    std::vector<TaskStats> out(eps.size());
    const int workers =
        opt_.task_parallel ? std::min<int>(at::get_num_threads(), static_cast<int>(eps.size())) : 1;
    if (workers <= 1) {
      for (size_t i = 0; i < eps.size(); ++i)
        out[i] = accumulate_meta_gradient(theta, eps[i], grad);
      return out;
    }
    // Worker w takes episodes w, w + W, ... in order into its own buffer,
    // and the buffers are added in worker order: the same bits every run
    // for a given number of threads.
    reset_worker_grads(workers, grad);
    run_workers(workers, [&](int w) {
      for (size_t i = w; i < eps.size(); i += workers)
        out[i] = accumulate_meta_gradient(theta, eps[i], worker_grads_[w]);
    });
    torch::NoGradGuard ng;
    for (int w = 0; w < workers; ++w)
      for (size_t k = 0; k < grad.size(); ++k) grad[k].add_(worker_grads_[w][k]);
    return out;
  }
  const EpisodeBatch b = stack_episodes(eps);
  return batch_stats(accumulate_batched(theta, b, grad), b.qy);
}

void Learner::reset_worker_grads(int workers, const std::vector<torch::Tensor>& grad) const {
  worker_grads_.resize(workers);
  for (auto& buf : worker_grads_) {
    if (buf.size() != grad.size()) buf.assign(grad.size(), {});
    for (size_t k = 0; k < grad.size(); ++k) {
      if (!buf[k].defined() || buf[k].sizes() != grad[k].sizes() ||
          buf[k].dtype() != grad[k].dtype())
        buf[k] = torch::zeros_like(grad[k]);
      else
        buf[k].zero_();
    }
  }
}

std::vector<TaskStats> Learner::accumulate_exact(const Params& theta,
                                                 const std::vector<Episode>& eps,
                                                 ExactSum& sum) const {
  if (!theta.tensors.at(0).is_cpu())
    throw UserError("comm.reduction: exact works on CPU parameters only (device: cpu)");
  const auto dtype = theta.tensors.at(0).scalar_type();
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64)
    throw std::logic_error("accumulate_exact: float32 or float64 parameters");
  size_t total = 0;
  for (const auto& t : theta.tensors) total += static_cast<size_t>(t.numel());
  if (sum.size() != total)
    throw std::logic_error("accumulate_exact: sum sized for other parameters");
  std::vector<TaskStats> out(eps.size());
  // Every episode runs on a pool worker with one intra-op thread, also
  // when there is only one (learner.task_parallel: false): a task's bits
  // never depend on the thread count. Workers add finished tasks into the
  // one sum in turn; integer addition makes the order irrelevant.
  const int workers =
      opt_.task_parallel
          ? std::max(1, std::min<int>(at::get_num_threads(),
                                      static_cast<int>(std::max<size_t>(eps.size(), 1))))
          : 1;
  reset_worker_grads(workers, theta.tensors);  // zeroed buffers shaped like theta
  std::mutex adding;
  run_workers(workers, [&](int w) {
    std::vector<torch::Tensor>& g = worker_grads_[w];
    for (size_t i = w; i < eps.size(); i += workers) {
      for (auto& t : g) t.zero_();
      out[i] = accumulate_meta_gradient(theta, eps[i], g);
      std::lock_guard<std::mutex> lock(adding);
      size_t off = 0;
      for (const auto& t : g) {
        const torch::Tensor c = t.contiguous();
        const auto n = static_cast<size_t>(c.numel());
        if (dtype == torch::kFloat32)
          sum.add(c.data_ptr<float>(), off, n);
        else
          sum.add(c.data_ptr<double>(), off, n);
        off += n;
      }
    }
  });
  return out;
}

torch::Tensor Learner::accumulate_batched(const Params&, const EpisodeBatch&,
                                          std::vector<torch::Tensor>&) const {
  throw std::logic_error(opt_.name + " has no task-batched inner loop");
}

std::vector<TaskStats> Learner::batch_stats(const torch::Tensor& out,
                                            const torch::Tensor& y) const {
  torch::NoGradGuard ng;
  const int64_t T = out.size(0);
  std::vector<TaskStats> st(T);
  torch::Tensor loss, metric;
  switch (kind_) {
    case TaskKind::kClassification: {
      torch::Tensor lp = torch::log_softmax(out, 2);
      loss = -lp.gather(2, y.unsqueeze(2)).squeeze(2).mean(1);
      metric = out.argmax(2).eq(y).to(torch::kFloat64).mean(1);
      break;
    }
    case TaskKind::kRegression:
      loss = metric = (out.reshape({T, -1}) - y.reshape({T, -1})).pow(2).mean(1);
      break;
    case TaskKind::kPreference:  // AUC is a rank statistic: per task
      for (int64_t t = 0; t < T; ++t) st[t] = stats(out[t], y[t]);
      return st;
  }
  loss = loss.to(torch::kCPU, torch::kFloat64).contiguous();
  metric = metric.to(torch::kCPU, torch::kFloat64).contiguous();
  for (int64_t t = 0; t < T; ++t)
    st[t].loss = loss.data_ptr<double>()[t], st[t].metric = metric.data_ptr<double>()[t];
  return st;
}

torch::Tensor Learner::loss(const torch::Tensor& out, const torch::Tensor& y,
                            const EpisodeBatch& b) const {
  if (!b.batched) return task_loss(kind_, out, y);
  // Equal sizes per task, so the mean over all T*n items times T is the sum
  // of the T per-task means.
  return task_loss(kind_, out.reshape({-1, out.size(-1)}), y.reshape({-1})) *
         static_cast<double>(b.tasks);
}

Params Learner::expand(const Params& theta, const EpisodeBatch& b) {
  if (!b.batched) return theta;
  Params out;
  for (size_t i = 0; i < theta.size(); ++i) {
    std::vector<int64_t> shape{b.tasks};
    for (int64_t d : theta.tensors[i].sizes()) shape.push_back(d);
    out.add(theta.names[i], theta.tensors[i].expand(shape));  // adds the leading dim, no copy
  }
  return out;
}

void Learner::add_into(std::vector<torch::Tensor>& acc, const std::vector<torch::Tensor>& g) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < acc.size(); ++i)
    if (g[i].defined()) acc[i].add_(g[i]);
}

std::unique_ptr<Learner> make_learner(const Model& model, TaskKind kind, const LearnerOptions& o) {
  const LearnerTraits& traits = learner_traits(o.name);
  if (o.descriptor_init) {
    if (!traits.descriptor_init)
      throw UserError("learner.descriptor_init: works with " +
                      learners_with(&LearnerTraits::descriptor_init) + ", not " + o.name);
    if (o.descriptor_dim <= 0)
      throw UserError(
          "learner.descriptor_init: the data has no category descriptors "
          "(pack a catalogue with descriptors, e.g. --source synthetic)");
  }
  if (kind == TaskKind::kRegression && !traits.regression)
    throw UserError("learner.name: " + o.name +
                    " needs classification or preference tasks, not regression");
  if (traits.gradient_family) return std::make_unique<GradientLearner>(model, kind, o);
  if (o.name == "reptile") return std::make_unique<Reptile>(model, kind, o);
  if (o.name == "protonet") return std::make_unique<ProtoNet>(model, kind, o);
  if (o.name == "finetune") return std::make_unique<FineTune>(model, kind, o);
  throw UserError("learner.name: unknown learner '" + o.name + "'");
}

Params fit_supervised(const Model& model, TaskKind kind, const Params& params,
                      const std::vector<std::string>& trainable, const torch::Tensor& x,
                      const torch::Tensor& y, int64_t steps, double lr) {
  if (x.size(0) == 0 || steps == 0) return params.detached(false);  // nothing to fit (zero-shot)
  Params train = params
                     .filter([&](const std::string& n) {
                       return std::find(trainable.begin(), trainable.end(), n) != trainable.end();
                     })
                     .detached(true);
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
