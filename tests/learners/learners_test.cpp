#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <map>

#include "core/optimizer.h"
#include "core/rng.h"
#include "gradient_checks.h"
#include "learners/baselines.h"
#include "learners/gradient_learner.h"
#include "learners/protonet.h"
#include "learners/reptile.h"

using namespace metacat;
using metacat::test::relative_error;

namespace {

std::unique_ptr<Model> small_mlp(int64_t in = 2, int64_t outputs = 1) {
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {in};
  s.hidden = {6, 5};
  s.outputs = outputs;
  s.dtype = torch::kFloat64;
  return make_model(s);
}

Episode regression_episode(uint64_t seed) {
  torch::manual_seed(seed);
  Episode e;
  e.support_x = torch::randn({6, 2}, torch::kFloat64);
  e.support_y = torch::randn({6}, torch::kFloat64);
  e.query_x = torch::randn({8, 2}, torch::kFloat64);
  e.query_y = torch::randn({8}, torch::kFloat64);
  return e;
}

LearnerOptions opts(const std::string& name, int64_t steps = 2, double lr = 0.1) {
  LearnerOptions o;
  o.name = name;
  o.inner_steps = steps;
  o.eval_inner_steps = steps;
  o.inner_lr = lr;
  return o;
}

std::vector<torch::Tensor> meta_grad(const Learner& l, const Params& theta, const Episode& e) {
  std::vector<torch::Tensor> g;
  for (const auto& t : theta.tensors) g.push_back(torch::zeros_like(t).detach());
  l.accumulate_meta_gradient(theta, e, g);
  return g;
}

// Query loss after adaptation, as a plain function of theta (no graph).
double adapted_query_loss(const GradientLearner& l, const Params& theta, const Episode& e) {
  auto [fast, out] =
      l.adapt(theta.detached(true), single_episode(e), l.options().inner_steps, false);
  return task_loss(TaskKind::kRegression, out, e.query_y).item<double>();
}

// Independent reference: plain SGD on the support set, `steps` times.
Params sgd_on_support(const Model& m, const Params& theta, const Episode& e, int steps, double lr) {
  Params fast = theta.detached(true);
  for (int k = 0; k < steps; ++k) {
    auto loss =
        task_loss(TaskKind::kRegression, m.forward(fast, e.support_x, Mode::kTrain), e.support_y);
    auto g = torch::autograd::grad({loss}, fast.tensors);
    for (size_t i = 0; i < fast.size(); ++i)
      fast.tensors[i] = (fast.tensors[i] - lr * g[i]).detach().requires_grad_(true);
  }
  return fast;
}

// Central finite differences of adapted_query_loss w.r.t. every element.
std::vector<torch::Tensor> finite_difference(const GradientLearner& l, const Params& theta,
                                             const Episode& e) {
  return test::finite_difference(theta,
                                 [&](const Params& p) { return adapted_query_loss(l, p, e); });
}

}  // namespace

TEST(Maml, SecondOrderMetaGradientMatchesFiniteDifferences) {
  auto m = small_mlp();
  GradientLearner maml(*m, TaskKind::kRegression, opts("maml", 2, 0.1));
  Params theta = maml.init(1).detached(true);
  Episode e = regression_episode(2);
  auto g = meta_grad(maml, theta, e);
  auto fd = finite_difference(maml, theta, e);
  EXPECT_LT(relative_error(g, fd), 1e-5);
  // The first-order approximation is measurably different: the check can fail.
  GradientLearner fo(*m, TaskKind::kRegression, opts("fomaml", 2, 0.1));
  EXPECT_GT(relative_error(meta_grad(fo, theta, e), fd), 1e-3);
}

TEST(MetaSgd, SecondOrderGradientMatchesFiniteDifferencesAndRatesLearn) {
  auto m = small_mlp();
  GradientLearner msgd(*m, TaskKind::kRegression, opts("metasgd", 2, 0.1));
  Params theta = msgd.init(1).detached(true);
  ASSERT_EQ(theta.size(), 2 * m->init(1).size());
  ASSERT_TRUE(theta.contains("lr.body.0.weight"));
  Episode e = regression_episode(3);
  auto g = meta_grad(msgd, theta, e);
  EXPECT_LT(relative_error(g, finite_difference(msgd, theta, e)), 1e-5);
  for (size_t i = 0; i < theta.size(); ++i)
    if (theta.names[i].rfind("lr.", 0) == 0) {
      EXPECT_GT(g[i].abs().sum().item<double>(), 0) << theta.names[i];
      EXPECT_TRUE(g[i].isfinite().all().item<bool>());
    }
}

TEST(Fomaml, EqualsQueryGradientAtAdaptedParameters) {
  auto m = small_mlp();
  GradientLearner fo(*m, TaskKind::kRegression, opts("fomaml", 3, 0.05));
  Params theta = fo.init(4).detached(true);
  Episode e = regression_episode(5);
  // Independent reference: plain SGD on the support set, then grad of the query loss.
  Params fast = sgd_on_support(*m, theta, e, 3, 0.05);
  auto ql = task_loss(TaskKind::kRegression, m->forward(fast, e.query_x, Mode::kTrain), e.query_y);
  auto expect = torch::autograd::grad({ql}, fast.tensors);
  EXPECT_LT(relative_error(meta_grad(fo, theta, e), expect), 1e-12);
}

TEST(Reptile, OuterSgdStepIsThetaPlusEpsilonTimesDisplacement) {
  auto m = small_mlp();
  Reptile rep(*m, TaskKind::kRegression, opts("reptile", 4, 0.05));
  Params theta = rep.init(6).detached(true);
  Episode e = regression_episode(7);
  Params fast = sgd_on_support(*m, theta, e, 4, 0.05);
  auto grads = meta_grad(rep, theta, e);
  OptimizerSpec sgd;
  sgd.name = "sgd";
  sgd.lr = 0.3;  // epsilon
  Params updated = theta.detached(false);
  Optimizer(sgd, updated.tensors).step(updated.tensors, grads);
  for (size_t i = 0; i < theta.size(); ++i) {
    torch::Tensor expect =
        theta.tensors[i].detach() + 0.3 * (fast.tensors[i].detach() - theta.tensors[i].detach());
    EXPECT_TRUE(torch::allclose(updated.tensors[i], expect, 1e-12, 1e-12)) << theta.names[i];
  }
}

TEST(Anil, InnerLoopAdaptsOnlyTheHead) {
  auto m = small_mlp();
  GradientLearner anil(*m, TaskKind::kRegression, opts("anil", 2, 0.1));
  Params theta = anil.init(8).detached(true);
  Episode e = regression_episode(9);
  auto [fast, out] = anil.adapt(theta, single_episode(e), 2, true);
  for (size_t i = 0; i < theta.size(); ++i) {
    const bool same = torch::equal(fast.tensors[i], theta.tensors[i]);
    EXPECT_EQ(same, !Model::is_head(theta.names[i])) << theta.names[i];
  }
  // The body still gets a meta-gradient (through the features).
  auto g = meta_grad(anil, theta, e);
  EXPECT_GT(g[0].abs().sum().item<double>(), 0);
}

TEST(ProtoNet, SeparatesWellSeparatedClusters) {
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {8};
  s.hidden = {32, 32};
  s.outputs = 1;
  auto m = make_model(s);
  ProtoNet proto(*m, TaskKind::kClassification, opts("protonet"));
  Params theta = proto.init(1);
  EXPECT_FALSE(theta.contains("head.weight"));
  Rng rng(3);
  int64_t correct = 0, total = 0;
  for (int ep = 0; ep < 50; ++ep) {
    const int ways = 5, shots = 5, queries = 10;
    std::vector<float> centers(ways * 8);
    for (auto& c : centers) c = 10 * rng.normal();
    auto make = [&](int n, torch::Tensor& x, torch::Tensor& y) {
      std::vector<float> xs;
      std::vector<int64_t> ys;
      for (int c = 0; c < ways; ++c)
        for (int i = 0; i < n; ++i) {
          for (int d = 0; d < 8; ++d) xs.push_back(centers[c * 8 + d] + 0.5 * rng.normal());
          ys.push_back(c);
        }
      x = torch::tensor(xs).reshape({ways * n, 8});
      y = torch::tensor(ys);
    };
    Episode e;
    make(shots, e.support_x, e.support_y);
    make(queries, e.query_x, e.query_y);
    auto out = proto.predict(theta, e, 0);
    correct += out.argmax(1).eq(e.query_y).sum().item<int64_t>();
    total += e.query_y.size(0);
  }
  EXPECT_GE(static_cast<double>(correct) / total, 0.99);
}

// learner.embedding_norm: every embedding ends on the sphere of radius
// sqrt(dim); centred, a shift of all embeddings changes nothing, and the
// meta-gradient through the normalisation matches finite differences.
TEST(ProtoNet, EmbeddingNormsPutEmbeddingsOnASphereAndKeepExactGradients) {
  auto m = small_mlp(2, 3);
  torch::manual_seed(5);
  torch::Tensor f = torch::randn({7, 4}, torch::kFloat64) + 3.0;
  torch::Tensor shift = torch::randn({1, 4}, torch::kFloat64);
  auto o = opts("protonet");
  std::map<std::string, torch::Tensor> out;
  for (std::string norm : {"none", "l2", "centered_l2"}) {
    o.embedding_norm = norm;
    ProtoNet proto(*m, TaskKind::kClassification, o);
    out[norm] = proto.normalized(f);
    if (norm == "none") continue;
    EXPECT_TRUE(torch::allclose(out[norm].norm(2, {1}), torch::full({7}, 2.0, torch::kFloat64)));
    const bool invariant = torch::allclose(proto.normalized(f + shift), out[norm]);
    EXPECT_EQ(invariant, norm == "centered_l2");
  }
  EXPECT_TRUE(torch::equal(out["none"], f));
  EXPECT_FALSE(torch::allclose(out["l2"], out["centered_l2"]));

  o.embedding_norm = "centered_l2";
  ProtoNet proto(*m, TaskKind::kClassification, o);
  Episode e = regression_episode(8);
  e.support_y = torch::tensor({0, 1, 2, 0, 1, 2});
  e.query_y = torch::tensor({0, 1, 2, 2, 1, 0, 0, 1});
  Params theta = proto.init(2).detached(true);
  auto g = meta_grad(proto, theta, e);
  auto fd = metacat::test::finite_difference(theta, [&](const Params& p) {
    return task_loss(TaskKind::kClassification, proto.logits(p, e), e.query_y).item<double>();
  });
  EXPECT_LT(relative_error(g, fd), 1e-6);
}

TEST(Baselines, ScratchTrainsOnSupportAndFinetuneSwapsHead) {
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {4};
  s.hidden = {16};
  s.outputs = 3;
  auto task_model = make_model(s);
  s.outputs = 6;
  auto joint_model = make_model(s);
  Episode e;
  torch::manual_seed(0);
  e.support_x = torch::randn({9, 4});
  e.support_y = torch::tensor({0, 0, 0, 1, 1, 1, 2, 2, 2});
  e.support_x.index_put_({e.support_y == 1}, e.support_x.index({e.support_y == 1}) + 5);
  e.support_x.index_put_({e.support_y == 2}, e.support_x.index({e.support_y == 2}) - 5);
  e.query_x = e.support_x.clone();
  e.query_y = e.support_y.clone();
  LearnerOptions o = opts("finetune");
  o.scratch_steps = 100;
  o.finetune_steps = 100;
  auto out = predict_from_scratch(*task_model, TaskKind::kClassification, o, e, 1);
  EXPECT_EQ(out.argmax(1).eq(e.query_y).sum().item<int64_t>(), 9);
  FineTune ft(*joint_model, TaskKind::kClassification, o);
  Params theta = ft.init(2);
  auto out2 = ft.predict(theta, e, 3);
  EXPECT_EQ(out2.size(1), 3);  // a fresh 3-way head, not the 6-way joint one
  EXPECT_EQ(out2.argmax(1).eq(e.query_y).sum().item<int64_t>(), 9);
}
