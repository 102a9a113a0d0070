// The task-batched inner loop and the recomputing second-order backward pass
// must give the meta-gradients of the plain per-task computation.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "core/batched_matmul.h"
#include "core/pool.h"
#include "gradient_checks.h"
#include "learners/gradient_learner.h"

using namespace metacat;
using metacat::test::max_rel_diff;
using metacat::test::zeros_like;

namespace {

struct Case {
  std::string model;  // mlp | preference | conv4
  TaskKind kind;
};

std::unique_ptr<Model> model_for(const Case& c) {
  ModelSpec s;
  s.name = c.model;
  s.dtype = torch::kFloat64;
  if (c.model == "conv4") {
    s.input_shape = {1, 16, 16};
    s.width = 4;
  } else {
    s.input_shape = {5};
    s.hidden = {7, 6};
  }
  s.outputs = c.kind == TaskKind::kClassification ? 3 : 1;
  return make_model(s);
}

Episode episode_for(const Case& c, int64_t seed) {
  torch::manual_seed(seed);
  const auto f64 = torch::kFloat64;
  std::vector<int64_t> item =
      c.model == "conv4" ? std::vector<int64_t>{1, 16, 16} : std::vector<int64_t>{5};
  auto shape = [&](int64_t n) {
    std::vector<int64_t> s{n};
    s.insert(s.end(), item.begin(), item.end());
    return s;
  };
  Episode e;
  e.support_x = torch::randn(shape(6), f64);
  e.query_x = torch::randn(shape(9), f64);
  switch (c.kind) {
    case TaskKind::kClassification:
      e.support_y = torch::arange(3).repeat_interleave(2);
      e.query_y = torch::arange(3).repeat_interleave(3);
      break;
    case TaskKind::kRegression:
      e.support_y = torch::randn({6}, f64);
      e.query_y = torch::randn({9}, f64);
      break;
    case TaskKind::kPreference:
      e.support_y = torch::tensor({0., 1., 1., 0., 1., 0.}, f64);
      e.query_y = torch::tensor({1., 0., 0., 1., 1., 0., 1., 0., 1.}, f64);
      break;
  }
  return e;
}

LearnerOptions opts(const std::string& name, const std::string& loop, int64_t steps) {
  LearnerOptions o;
  o.name = name;
  o.inner_loop = loop;
  o.inner_steps = steps;
  o.inner_lr = 0.3;
  return o;
}

const std::vector<Case> kCases = {{"mlp", TaskKind::kRegression},
                                  {"mlp", TaskKind::kClassification},
                                  {"preference", TaskKind::kPreference},
                                  {"conv4", TaskKind::kClassification}};

}  // namespace

TEST(Batched, SameMetaGradientsAndStatsAsPerTaskForEveryLearnerAndModel) {
  for (const Case& c : kCases) {
    auto model = model_for(c);
    std::vector<Episode> eps;
    for (int64_t t = 0; t < 4; ++t) eps.push_back(episode_for(c, 10 + t));
    for (std::string name : {"maml", "fomaml", "anil", "metasgd", "reptile", "protonet"}) {
      if (name == "protonet" && c.kind == TaskKind::kRegression) continue;
      SCOPED_TRACE(c.model + "/" + to_string(c.kind) + "/" + name);
      auto per_task = make_learner(*model, c.kind, opts(name, "per_task", 2));
      auto batched = make_learner(*model, c.kind, opts(name, "batched", 2));
      ASSERT_FALSE(per_task->batching(eps));
      ASSERT_TRUE(batched->batching(eps));  // the batched path really runs
      Params theta = per_task->init(3).detached(true);
      auto g1 = zeros_like(theta), g2 = zeros_like(theta);
      auto s1 = per_task->accumulate_meta_gradients(theta, eps, g1);
      auto s2 = batched->accumulate_meta_gradients(theta, eps, g2);
      EXPECT_GT(g1[0].abs().max().item<double>(), 0);
      EXPECT_LT(max_rel_diff(g1, g2), 1e-10);
      ASSERT_EQ(s1.size(), s2.size());
      for (size_t t = 0; t < s1.size(); ++t) {
        EXPECT_NEAR(s1[t].loss, s2[t].loss, 1e-10);
        EXPECT_NEAR(s1[t].metric, s2[t].metric, 1e-10);
      }
    }
  }
}

// ProtoNet's embedding normalisations (the episode's mean is per task in
// the batched path) give the per-task meta-gradients too.
TEST(Batched, ProtoNetEmbeddingNormsSameAsPerTask) {
  for (const Case& c : kCases) {
    if (c.kind == TaskKind::kRegression) continue;
    auto model = model_for(c);
    std::vector<Episode> eps;
    for (int64_t t = 0; t < 4; ++t) eps.push_back(episode_for(c, 20 + t));
    for (std::string norm : {"l2", "centered_l2"}) {
      SCOPED_TRACE(c.model + "/" + norm);
      auto o = opts("protonet", "per_task", 1);
      o.embedding_norm = norm;
      auto per_task = make_learner(*model, c.kind, o);
      o.inner_loop = "batched";
      auto batched = make_learner(*model, c.kind, o);
      ASSERT_TRUE(batched->batching(eps));
      Params theta = per_task->init(4).detached(true);
      auto g1 = zeros_like(theta), g2 = zeros_like(theta);
      auto s1 = per_task->accumulate_meta_gradients(theta, eps, g1);
      auto s2 = batched->accumulate_meta_gradients(theta, eps, g2);
      EXPECT_GT(g1[0].abs().max().item<double>(), 0);
      EXPECT_LT(max_rel_diff(g1, g2), 1e-10);
      for (size_t t = 0; t < s1.size(); ++t) EXPECT_NEAR(s1[t].loss, s2[t].loss, 1e-10);
    }
  }
}

// With category descriptors: the descriptor network's offset of the head's
// start is part of the computation, batched and recomputed alike.
TEST(Batched, DescriptorInitSameGradientsBatchedPerTaskAndRecomputed) {
  const Case c{"preference", TaskKind::kPreference};
  auto model = model_for(c);
  std::vector<Episode> eps;
  for (int64_t t = 0; t < 3; ++t) {
    eps.push_back(episode_for(c, 30 + t));
    eps.back().descriptor = torch::randn({4}, torch::kFloat64);
  }
  for (std::string name : {"maml", "fomaml", "anil", "metasgd"}) {
    SCOPED_TRACE(name);
    auto o = opts(name, "per_task", 3);
    o.descriptor_init = true;
    o.descriptor_dim = 4;
    o.descriptor_hidden = {5};
    GradientLearner per_task(*model, c.kind, o);
    o.inner_loop = "batched";
    GradientLearner batched(*model, c.kind, o);
    Params theta = per_task.init(9);
    ASSERT_TRUE(theta.contains("desc.1.weight"));
    // A non-zero last layer, so that descriptors change the start.
    theta.tensors[theta.index_of("desc.1.weight")] =
        torch::randn_like(theta.at("desc.1.weight")) * 0.3;
    theta = theta.detached(true);
    auto g1 = zeros_like(theta), g2 = zeros_like(theta), g3 = zeros_like(theta);
    per_task.accumulate_meta_gradients(theta, eps, g1);
    ASSERT_TRUE(batched.batching(eps));
    batched.accumulate_meta_gradients(theta, eps, g2);
    EXPECT_LT(max_rel_diff(g1, g2), 1e-10);
    EXPECT_GT(g1[theta.index_of("desc.0.weight")].abs().max().item<double>(), 0);
    if (per_task.second_order()) {
      batched.accumulate_recomputed(theta, stack_episodes(eps), g3);
      EXPECT_LT(max_rel_diff(g1, g3), 1e-10);
    }
  }
}

TEST(Batched, AutoBatchesWhereMeasuredFasterAndUnequalEpisodesRunPerTask) {
  Case mlp{"mlp", TaskKind::kRegression}, conv{"conv4", TaskKind::kClassification};
  auto m1 = model_for(mlp), m2 = model_for(conv);
  std::vector<Episode> e1 = {episode_for(mlp, 1), episode_for(mlp, 2)};
  std::vector<Episode> e2 = {episode_for(conv, 1), episode_for(conv, 2)};
  EXPECT_TRUE(make_learner(*m1, mlp.kind, opts("maml", "auto", 1))->batching(e1));
  EXPECT_FALSE(make_learner(*m2, conv.kind, opts("maml", "auto", 1))->batching(e2));
  e1[1].query_x = e1[1].query_x.slice(0, 0, 4);
  e1[1].query_y = e1[1].query_y.slice(0, 0, 4);
  EXPECT_FALSE(make_learner(*m1, mlp.kind, opts("maml", "batched", 1))->batching(e1));
}

TEST(Recompute, SameSecondOrderGradientAsTheFullGraph) {
  for (const Case& c : kCases) {
    auto model = model_for(c);
    std::vector<Episode> eps;
    for (int64_t t = 0; t < 3; ++t) eps.push_back(episode_for(c, 20 + t));
    for (std::string name : {"maml", "anil", "metasgd"}) {
      for (bool batched : {false, true}) {
        SCOPED_TRACE(c.model + "/" + name + (batched ? "/batched" : "/per_task"));
        auto o = opts(name, "per_task", 4);
        GradientLearner l(*model, c.kind, o);
        ASSERT_TRUE(l.second_order());
        Params theta = l.init(5).detached(true);
        auto g_full = zeros_like(theta), g_re = zeros_like(theta), g_fo = zeros_like(theta);
        std::vector<EpisodeBatch> batches;
        if (batched)
          batches.push_back(stack_episodes(eps));
        else
          for (const auto& e : eps) batches.push_back(single_episode(e));
        for (const auto& b : batches) l.accumulate_recomputed(theta, b, g_re);
        l.accumulate_meta_gradients(theta, eps, g_full);
        // The first-order gradient differs: the check can tell them apart.
        auto fo = opts(name, "per_task", 4);
        fo.first_order = true;
        fo.name = name == "maml" ? "fomaml" : name;
        GradientLearner first(*model, c.kind, fo);
        first.accumulate_meta_gradients(theta, eps, g_fo);
        EXPECT_LT(max_rel_diff(g_full, g_re), 1e-10);
        EXPECT_GT(max_rel_diff(g_full, g_fo), 1e-4);
      }
    }
  }
}

TEST(BatchedMatmul, MatchesBmmWithGradientsToSecondOrderForStridedOperands) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    SCOPED_TRACE(dtype == torch::kFloat32 ? "float32" : "float64");
    ASSERT_TRUE(batched_matmul_uses_blas(dtype));  // else this compares bmm with bmm
    torch::manual_seed(7);
    const double tol = dtype == torch::kFloat32 ? 1e-4 : 1e-10;
    auto opt = torch::TensorOptions().dtype(dtype).requires_grad(true);
    torch::Tensor x = torch::randn({5, 6, 4}, opt);  // plain
    torch::Tensor w = torch::randn({3, 4}, opt);     // shared, expanded
    torch::Tensor v = torch::randn({5, 7, 3}, opt);  // transposed view
    auto chain = [&](bool ours) {
      auto mm = [&](const torch::Tensor& a, const torch::Tensor& b) {
        return ours ? batched_matmul(a, b) : torch::bmm(a, b);
      };
      torch::Tensor we = w.unsqueeze(0).expand({5, 3, 4});
      torch::Tensor h = torch::tanh(mm(x, we.transpose(1, 2)));  // [5, 6, 3]
      return mm(h, v.transpose(1, 2)).pow(2).sum();              // [5, 6, 7]
    };
    std::vector<torch::Tensor> inputs = {x, w, v};
    auto grads_of = [&](bool ours) {
      torch::Tensor y = chain(ours);
      auto g = torch::autograd::grad({y}, inputs, {}, true, true);
      // Second order: the gradient of the squared gradient norm.
      torch::Tensor n = g[0].pow(2).sum() + g[1].pow(2).sum() + g[2].pow(2).sum();
      auto h = torch::autograd::grad({n}, inputs);
      std::vector<torch::Tensor> all = {y.detach()};
      for (auto& t : g) all.push_back(t.detach());
      for (auto& t : h) all.push_back(t.detach());
      return all;
    };
    auto ours = grads_of(true), theirs = grads_of(false);
    EXPECT_LT(max_rel_diff(theirs, ours), tol);
    EXPECT_GT(ours.back().abs().max().item<double>(), 0);
  }
}

TEST(MaxPool2x2, MatchesMaxPool2dWithGradientsToSecondOrder) {
  // Widths below, at and above the 4-window vector path, odd and even.
  for (auto shape : {std::vector<int64_t>{3, 4, 7, 9}, std::vector<int64_t>{2, 3, 28, 28},
                     std::vector<int64_t>{2, 2, 13, 19}})
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      torch::manual_seed(11);
      torch::Tensor x =
          torch::randn(shape, torch::TensorOptions().dtype(dtype).requires_grad(true));
      auto grads_of = [&](bool ours) {
        // relu after pooling, as conv4 does, against PyTorch's order.
        torch::Tensor y =
            ours ? torch::relu(max_pool_2x2(x)) : torch::max_pool2d(torch::relu(x), 2);
        torch::Tensor w = torch::linspace(-1, 2, y.numel(), y.options()).view(y.sizes());
        auto g = torch::autograd::grad({(y * y * w).sum()}, {x}, {}, true, true);
        auto h = torch::autograd::grad({g[0].pow(3).sum()}, {x});
        return std::vector<torch::Tensor>{y.detach(), g[0].detach(), h[0].detach()};
      };
      auto ours = grads_of(true), theirs = grads_of(false);
      ASSERT_EQ(ours[0].sizes(), theirs[0].sizes());
      EXPECT_LT(max_rel_diff(theirs, ours), 1e-6);
      EXPECT_GT(ours[2].abs().max().item<double>(), 0);
    }
  torch::Tensor n = torch::zeros({1, 1, 2, 2});
  n[0][0][1][0] = std::nan("");
  EXPECT_TRUE(std::isnan(max_pool_2x2(n).item<double>()));
  // A NaN inside the vector path's windows, and away from it.
  torch::Tensor wide = torch::randn({1, 2, 4, 20});
  wide[0][0][1][5] = std::nan("");
  torch::Tensor p = max_pool_2x2(wide);
  EXPECT_TRUE(std::isnan(p[0][0][0][2].item<double>()));
  EXPECT_FALSE(torch::isnan(p[0][1]).any().item<bool>());
  EXPECT_TRUE(torch::equal(torch::isnan(p), torch::isnan(torch::max_pool2d(wide, 2))));
}

// Ties: the gradient goes to the first maximum of each window (row by row),
// as in PyTorch's kernel; integer-valued inputs make ties frequent.
TEST(MaxPool2x2, TiesGoToTheFirstMaximumAsInPyTorch) {
  torch::manual_seed(5);
  torch::Tensor x = torch::randint(0, 3, {2, 3, 12, 18}).to(torch::kFloat32).requires_grad_(true);
  auto grad_of = [&](bool ours) {
    torch::Tensor y = ours ? max_pool_2x2(x) : torch::max_pool2d(x, 2);
    torch::Tensor w = torch::linspace(1, 2, y.numel()).view(y.sizes());
    return torch::autograd::grad({(y * w).sum()}, {x})[0];
  };
  EXPECT_TRUE(torch::equal(max_pool_2x2(x), torch::max_pool2d(x, 2)));
  EXPECT_TRUE(torch::equal(grad_of(true), grad_of(false)));
}

// Preference ProtoNet with a support set of one label: the distance to that
// label's prototype still ranks the queries; batched and per-task agree.
TEST(ProtoNetPreference, OneLabelSupportStillRanksAndBatchesTheSame) {
  const Case c{"preference", TaskKind::kPreference};
  auto model = model_for(c);
  std::vector<Episode> eps = {episode_for(c, 40), episode_for(c, 41)};
  eps[0].support_y = torch::ones({6}, torch::kFloat64);   // positives only
  eps[1].support_y = torch::zeros({6}, torch::kFloat64);  // negatives only
  auto per_task = make_learner(*model, c.kind, opts("protonet", "per_task", 1));
  auto batched = make_learner(*model, c.kind, opts("protonet", "batched", 1));
  Params theta = per_task->init(2).detached(true);
  for (const auto& e : eps) {
    torch::Tensor out = per_task->predict(theta, e, 0);
    EXPECT_GT(out.std().item<double>(), 0);  // not a constant score
  }
  auto g1 = zeros_like(theta), g2 = zeros_like(theta);
  per_task->accumulate_meta_gradients(theta, eps, g1);
  ASSERT_TRUE(batched->batching(eps));
  batched->accumulate_meta_gradients(theta, eps, g2);
  EXPECT_GT(g1[0].abs().max().item<double>(), 0);
  EXPECT_LT(max_rel_diff(g1, g2), 1e-10);
}
