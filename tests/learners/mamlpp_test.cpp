// Proto-MAML and the MAML++ options (per-step rates, per-step batch norm,
// multi-step loss) and the cosine outer schedule: constructions, gradients
// against finite differences, equality of the batched/recomputed paths, and
// exact checkpoint round trips of the learned per-step parameters.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "core/optimizer.h"
#include "core/threads.h"
#include "gradient_checks.h"
#include "learners/gradient_learner.h"
#include "learners/protonet.h"
#include "test_util.h"
#include "train/experiment.h"
#include "train/trainer.h"

using namespace metacat;
using metacat::test::max_rel_diff;
using metacat::test::relative_error;
using metacat::test::zeros_like;
namespace fs = std::filesystem;

namespace {

// A conv4 small enough for finite differences: 3 channels, 16x16 images.
std::unique_ptr<Model> small_conv4(int64_t width = 3) {
  ModelSpec s;
  s.name = "conv4";
  s.input_shape = {1, 16, 16};
  s.width = width;
  s.outputs = 3;
  s.dtype = torch::kFloat64;
  return make_model(s);
}

std::unique_ptr<Model> small_mlp() {
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {4};
  s.hidden = {5, 4};
  s.outputs = 3;
  s.dtype = torch::kFloat64;
  return make_model(s);
}

// 3-way episode, `shots` support and 3 query items per class.
Episode episode(const Model& m, int64_t seed, int64_t shots = 2) {
  torch::manual_seed(seed);
  auto shape = [&](int64_t n) {
    std::vector<int64_t> s{n};
    for (int64_t d : m.spec().input_shape) s.push_back(d);
    return s;
  };
  Episode e;
  e.support_x = torch::randn(shape(3 * shots), torch::kFloat64);
  e.query_x = torch::randn(shape(9), torch::kFloat64);
  e.support_y = torch::arange(3).repeat_interleave(shots);
  e.query_y = torch::arange(3).repeat_interleave(3);
  return e;
}

LearnerOptions opts(const std::string& name, int64_t steps, double lr = 0.3) {
  LearnerOptions o;
  o.name = name;
  o.inner_loop = "per_task";
  o.inner_steps = steps;
  o.eval_inner_steps = steps;
  o.inner_lr = lr;
  return o;
}

std::vector<torch::Tensor> meta_grad(const Learner& l, const Params& theta,
                                     const std::vector<Episode>& eps) {
  auto g = zeros_like(theta);
  l.accumulate_meta_gradients(theta, eps, g);
  return g;
}

// The meta-objective written out from adapt(): sum over k of w_k times the
// query loss after k inner steps (no graph).
double objective(const GradientLearner& l, const Params& theta, const Episode& e) {
  const std::vector<double> w = l.step_loss_weights(l.meta_step());
  double total = 0;
  for (int64_t k = 1; k <= l.options().inner_steps; ++k) {
    if (w[k - 1] == 0) continue;
    auto [fast, out] = l.adapt(theta.detached(true), single_episode(e), k, false);
    total += w[k - 1] * task_loss(TaskKind::kClassification, out, e.query_y).item<double>();
  }
  return total;
}

std::vector<torch::Tensor> finite_difference(const GradientLearner& l, const Params& theta,
                                             const Episode& e) {
  return test::finite_difference(theta, [&](const Params& p) { return objective(l, p, e); });
}

}  // namespace

// Before any inner step, Proto-MAML's head is the prototype construction:
// weight row k = 2 c_k, bias k = -|c_k|^2 with c_k the mean support feature
// of class k, so its logits are ProtoNet's minus squared distances plus a
// per-query constant |f_q|^2 (the same softmax).
TEST(ProtoMaml, HeadBeforeAdaptationIsThePrototypeConstruction) {
  auto m = small_conv4(4);
  GradientLearner pm(*m, TaskKind::kClassification, opts("protomaml", 1));
  Params theta = pm.init(7);
  EXPECT_FALSE(theta.contains("head.weight"));  // built per episode, not meta-learned
  Episode e = episode(*m, 11, 3);
  auto [start, out] = pm.adapt(theta.detached(true), single_episode(e), 0, false);
  torch::Tensor fs = m->features(theta, e.support_x, Mode::kTrain).detach();
  torch::Tensor fq = m->features(theta, e.query_x, Mode::kTrain).detach();
  for (int64_t k = 0; k < 3; ++k) {
    torch::Tensor c = fs.slice(0, 3 * k, 3 * k + 3).mean(0);  // shots are class-contiguous
    EXPECT_TRUE(torch::allclose(start.at("head.weight")[k], 2 * c, 1e-12, 1e-12)) << k;
    EXPECT_NEAR(start.at("head.bias")[k].item<double>(), -c.pow(2).sum().item<double>(), 1e-10);
    torch::Tensor dist = (fq - c).pow(2).sum(1);
    EXPECT_TRUE(torch::allclose(out.detach().select(1, k), -dist + fq.pow(2).sum(1), 1e-9, 1e-9));
  }
  // One inner step is plain SGD from (body, prototype head) as independent
  // parameters: the body's step does not see the head's dependence on it.
  auto [adapted, out1] = pm.adapt(theta.detached(true), single_episode(e), 1, false);
  Params init = theta.detached(true);
  for (const char* n : {"head.weight", "head.bias"})
    init.add(n, start.at(n).detach().clone().requires_grad_(true));
  torch::Tensor l = task_loss(TaskKind::kClassification,
                              m->forward(init, e.support_x, Mode::kTrain), e.support_y);
  auto g = torch::autograd::grad({l}, init.tensors);
  for (size_t i = 0; i < init.size(); ++i)
    EXPECT_TRUE(
        torch::allclose(adapted.at(init.names[i]), init.tensors[i] - 0.3 * g[i], 1e-10, 1e-12))
        << init.names[i];
  EXPECT_GT((adapted.at("head.weight") - start.at("head.weight")).abs().max().item<double>(), 1e-6);
}

// The meta-gradient flows through the inner loop and through the prototype
// head: second order it equals finite differences of the adapted query loss;
// the first-order variant measurably does not.
TEST(ProtoMaml, MetaGradientMatchesFiniteDifferences) {
  auto m = small_mlp();
  GradientLearner pm(*m, TaskKind::kClassification, opts("protomaml", 2, 0.2));
  ASSERT_TRUE(pm.second_order());
  Params theta = pm.init(3).detached(true);
  Episode e = episode(*m, 5);
  auto g = meta_grad(pm, theta, {e});
  auto fd = finite_difference(pm, theta, e);
  EXPECT_LT(relative_error(g, fd), 1e-6);
  auto fo_opts = opts("protomaml", 2, 0.2);
  fo_opts.first_order = true;
  GradientLearner fo(*m, TaskKind::kClassification, fo_opts);
  ASSERT_FALSE(fo.second_order());
  EXPECT_GT(relative_error(meta_grad(fo, theta, {e}), fd), 1e-3);
  // Proto-MAML is for classification: regression and preference are refused.
  EXPECT_THROW(GradientLearner(*m, TaskKind::kPreference, opts("protomaml", 1)), UserError);
}

// Per-step rates, per-step batch norm and the multi-step loss together, on
// conv4: the meta-gradient of the weighted objective equals finite
// differences, and every new meta-parameter receives a gradient.
TEST(MamlPlusPlus, MetaGradientMatchesFiniteDifferences) {
  auto m = small_conv4(2);
  auto o = opts("maml", 2, 0.1);
  o.per_step_rates = o.per_step_bn = o.multi_step_loss = true;
  o.multi_step_anneal = 10;
  GradientLearner l(*m, TaskKind::kClassification, o);
  l.set_meta_step(4);  // part way through the annealing: both weights non-zero
  const auto w = l.step_loss_weights(4);
  ASSERT_GT(w[0], 0.01);
  Params theta = l.init(2);
  ASSERT_TRUE(theta.contains("lslr.conv0.weight"));
  ASSERT_TRUE(theta.contains("stepbn.2.bn3.bias"));
  ASSERT_FALSE(theta.contains("lslr.bn0.weight"));  // batch norm is per step, not adapted
  ASSERT_EQ(theta.at("lslr.head.weight").numel(), 2);
  // Distinct per-step values, so that mixing up steps would show.
  for (size_t i = 0; i < theta.size(); ++i)
    if (theta.names[i].rfind("stepbn.", 0) == 0 || theta.names[i].rfind("lslr.", 0) == 0)
      theta.tensors[i] = theta.tensors[i] * (1 + 0.2 * torch::rand_like(theta.tensors[i]));
  theta = theta.detached(true);
  Episode e = episode(*m, 9);
  auto g = meta_grad(l, theta, {e});
  EXPECT_LT(relative_error(g, finite_difference(l, theta, e)), 1e-5);
  for (const char* n : {"lslr.conv1.weight", "lslr.head.bias", "stepbn.1.bn2.weight",
                        "stepbn.2.bn0.bias", "bn1.weight"})
    EXPECT_GT(g[theta.index_of(n)].abs().max().item<double>(), 0) << n;
}

// The batched inner loop and the recomputing backward pass give the same
// meta-gradient as the per-task full graph, with every option on.
TEST(MamlPlusPlus, BatchedAndRecomputedEqualThePerTaskGraph) {
  auto m = small_conv4(3);
  std::vector<Episode> eps;
  for (int64_t t = 0; t < 3; ++t) eps.push_back(episode(*m, 40 + t));
  for (std::string name : {"maml", "protomaml", "fomaml"}) {
    SCOPED_TRACE(name);
    auto o = opts(name, 3);
    o.per_step_rates = o.multi_step_loss = true;
    o.per_step_bn = name != "fomaml";  // second order only
    o.multi_step_anneal = 100;
    GradientLearner per_task(*m, TaskKind::kClassification, o);
    o.inner_loop = "batched";
    GradientLearner batched(*m, TaskKind::kClassification, o);
    for (auto* l : {&per_task, &batched}) l->set_meta_step(30);
    Params theta = per_task.init(1).detached(true);
    auto g1 = meta_grad(per_task, theta, eps);
    ASSERT_TRUE(batched.batching(eps));
    auto g2 = meta_grad(batched, theta, eps);
    EXPECT_GT(g1[0].abs().max().item<double>(), 0);
    EXPECT_LT(max_rel_diff(g1, g2), 1e-10);
    if (per_task.second_order()) {
      auto g3 = zeros_like(theta);
      for (const auto& e : eps) per_task.accumulate_recomputed(theta, single_episode(e), g3);
      EXPECT_LT(max_rel_diff(g1, g3), 1e-10);
      auto g4 = zeros_like(theta);
      batched.accumulate_recomputed(theta, stack_episodes(eps), g4);
      EXPECT_LT(max_rel_diff(g1, g4), 1e-10);
    }
  }
}

// The multi-step loss weights: uniform at the start, annealed linearly to
// the last step (the others keep 0.03 / K), always summing to one.
TEST(MamlPlusPlus, MultiStepLossWeightsAnneal) {
  auto m = small_mlp();
  auto o = opts("maml", 4);
  o.multi_step_loss = true;
  o.multi_step_anneal = 100;
  GradientLearner l(*m, TaskKind::kClassification, o);
  auto sum = [](const std::vector<double>& w) {
    double s = 0;
    for (double x : w) s += x;
    return s;
  };
  for (int64_t s : {0, 50, 100, 1000}) {
    const auto w = l.step_loss_weights(s);
    ASSERT_EQ(w.size(), 4u);
    EXPECT_NEAR(sum(w), 1.0, 1e-12) << s;
  }
  EXPECT_NEAR(l.step_loss_weights(0)[0], 0.25, 1e-12);
  EXPECT_NEAR(l.step_loss_weights(0)[3], 0.25, 1e-12);
  EXPECT_NEAR(l.step_loss_weights(50)[1], 0.5 * 0.25 + 0.5 * 0.0075, 1e-12);
  EXPECT_NEAR(l.step_loss_weights(1000)[0], 0.0075, 1e-12);
  EXPECT_NEAR(l.step_loss_weights(1000)[3], 1 - 3 * 0.0075, 1e-12);
  o.multi_step_loss = false;
  GradientLearner plain(*m, TaskKind::kClassification, o);
  EXPECT_EQ(plain.step_loss_weights(0), (std::vector<double>{0, 0, 0, 1}));
}

TEST(MamlPlusPlus, RefusesWhatCannotWork) {
  auto mlp = small_mlp();
  auto o = opts("maml", 2);
  o.per_step_bn = true;  // mlp has no batch norm
  EXPECT_THROW(GradientLearner(*mlp, TaskKind::kClassification, o), UserError);
  o = opts("metasgd", 2);
  o.per_step_rates = true;  // Meta-SGD has rates of its own
  EXPECT_THROW(GradientLearner(*mlp, TaskKind::kClassification, o), UserError);
  auto conv = small_conv4();
  o = opts("fomaml", 2);
  o.per_step_bn = true;  // first order: the support steps' batch norm would get no gradient
  EXPECT_THROW(GradientLearner(*conv, TaskKind::kClassification, o), UserError);
  o.name = "maml";
  EXPECT_NO_THROW(GradientLearner(*conv, TaskKind::kClassification, o));
}

TEST(Optimizer, CosineScheduleFromLrToMinLr) {
  OptimizerSpec s;
  s.lr = 0.01;
  s.min_lr = 0.001;
  s.total_steps = 100;
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.01);  // constant by default
  EXPECT_DOUBLE_EQ(s.lr_at(99), 0.01);
  s.schedule = "cosine";
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.01);
  EXPECT_NEAR(s.lr_at(50), 0.0055, 1e-15);
  EXPECT_NEAR(s.lr_at(100), 0.001, 1e-15);
  EXPECT_LT(s.lr_at(75), s.lr_at(25));
}

// Per-step batch norm and learned per-step rates are meta-parameters: a
// checkpoint holds them and a resumed run continues bit for bit (with the
// multi-step loss's annealing and the cosine rate at the resumed step).
TEST(MamlPlusPlus, PerStepParametersRoundTripAndResumeExactly) {
  apply_threads(1);
  auto config = [](int64_t steps) {
    Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist.yaml");
    c.set("data.source=fashion-mnist");
    c.set("data.path=/usr/share/datasets/fashion-mnist");
    c.set("model.width=4");
    c.set("task.shots=1");
    c.set("task.queries=2");
    c.set("learner.inner_steps=2");
    c.set("learner.per_step_rates=true");
    c.set("learner.per_step_bn=true");
    c.set("learner.multi_step_loss=true");
    c.set("learner.multi_step_anneal=6");
    c.set("train.lr_schedule=cosine");
    c.set("train.outer_lr=0.01");
    c.set("train.steps=" + std::to_string(steps));
    c.set("train.checkpoint_every=4");
    c.set("eval.at_end=false");
    return c;
  };
  auto train = [](const Config& c, const std::string& dir, const std::string& resume) {
    auto ex = build_experiment(c);
    return Trainer(*ex, dir, false, nullptr, resume).run();
  };
  const std::string full = test::fresh_dir("mamlpp", "full"),
                    cut = test::fresh_dir("mamlpp", "cut");
  TrainReport a = train(config(10), full, "none");
  // Learned: the per-step rates and batch-norm sets moved, and apart.
  const torch::Tensor rates = a.theta.at("lslr.conv2.weight");
  EXPECT_NE(rates[0].item<double>(), rates[1].item<double>());
  EXPECT_FALSE(torch::equal(a.theta.at("stepbn.1.bn1.weight"), a.theta.at("stepbn.2.bn1.weight")));
  Checkpoint ck = load_checkpoint(a.checkpoint);
  for (const char* n : {"lslr.conv2.weight", "stepbn.2.bn1.weight", "stepbn.1.bn3.bias"})
    EXPECT_TRUE(torch::equal(ck.params.at(n), a.theta.at(n))) << n;
  // The same run fails at step 6, after its checkpoint at step 4, and resumes.
  Config failing = config(10);
  failing.set("debug.fail_rank=0");
  failing.set("debug.fail_at_step=6");
  EXPECT_ANY_THROW(train(failing, cut, "none"));
  ASSERT_TRUE(fs::exists(checkpoint_path(cut, 4)));
  ASSERT_FALSE(fs::exists(checkpoint_path(cut, 8)));
  // train.steps sets the cosine horizon: changing it on resume is refused.
  try {
    train(config(12), cut, "auto");
    FAIL() << "resumed with another cosine horizon";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("train.steps"), std::string::npos) << e.what();
  }
  TrainReport b = train(config(10), cut, "auto");
  EXPECT_EQ(checksum(a.theta), checksum(b.theta));
}
