// The embedding model (model.name: embedding): its GRU against LibTorch's,
// padding, task-batched equals per task, and second-order meta-gradients
// through lookups and the GRU against finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/fields.h"
#include "core/loss.h"
#include "core/model.h"
#include "gradient_checks.h"
#include "learners/gradient_learner.h"
#include "train/sparse_tables.h"

using namespace metacat;
using metacat::test::relative_error;

namespace {

// price | brand (5 codes) | tags (2 x 4 codes) | history (3 x 6 codes).
std::vector<InputField> fields() {
  using R = InputField::Role;
  return {{"price", R::kNumeric, 0, 1, 0, ""},
          {"brand", R::kCategorical, 1, 1, 5, "brand"},
          {"tags", R::kMulti, 2, 2, 4, "tags"},
          {"history", R::kSequence, 4, 3, 6, "history"}};
}

std::unique_ptr<Model> small_model(const std::string& sequence = "gru", int64_t context = 0,
                                   const std::string& interactions = "none",
                                   const std::string& context_rows = "none") {
  ModelSpec s;
  s.context = context;
  s.context_rows = context_rows;
  s.interactions = interactions;
  s.name = "embedding";
  s.fields = fields();
  s.input_shape = {7};
  s.hidden = {3};
  s.embedding_dim = 2;
  s.gru_hidden = 2;
  s.sequence = sequence;
  s.dtype = torch::kFloat64;
  return make_model(s);
}

// n rows: a price, then codes (some padding) as exact doubles.
torch::Tensor items(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor x = torch::zeros({n, 7}, torch::kFloat64);
  x.select(1, 0).copy_(torch::randn({n}, torch::kFloat64));
  x.select(1, 1).copy_(torch::randint(0, 5, {n}, torch::kInt64));
  x.slice(1, 2, 4).copy_(torch::randint(0, 4, {n, 2}, torch::kInt64));
  x.slice(1, 4, 7).copy_(torch::randint(0, 6, {n, 3}, torch::kInt64));
  return x;
}

Episode episode(uint64_t seed) {
  Episode e;
  e.support_x = items(6, seed);
  e.query_x = items(8, seed + 100);
  e.support_y = torch::randint(0, 2, {6}, torch::kInt64).to(torch::kFloat64);
  e.query_y = torch::randint(0, 2, {8}, torch::kInt64).to(torch::kFloat64);
  return e;
}

LearnerOptions opts(const std::string& name, bool inner_embeddings) {
  LearnerOptions o;
  o.name = name;
  o.inner_steps = 2;
  o.eval_inner_steps = 2;
  o.inner_lr = 0.3;
  o.inner_embeddings = inner_embeddings;
  return o;
}

// The second-order meta-gradient of `maml` at theta on e against finite
// differences of its query loss after adaptation; returns the gradient.
std::vector<torch::Tensor> expect_exact_meta_gradient(const GradientLearner& maml,
                                                      const Params& theta, const Episode& e) {
  std::vector<torch::Tensor> g = test::zeros_like(theta);
  maml.accumulate_meta_gradient(theta, e, g);
  auto loss = [&](const Params& t) {
    auto [fast, out] = maml.adapt(t.detached(true), single_episode(e), 2, false);
    return task_loss(TaskKind::kPreference, out, e.query_y).item<double>();
  };
  EXPECT_LT(relative_error(g, test::finite_difference(theta, loss)), 1e-6);
  return g;
}

}  // namespace

TEST(Embedding, GruMatchesLibTorchsAndPaddingLeavesTheState) {
  torch::manual_seed(3);
  const int64_t n = 4, L = 5, E = 3, H = 2;
  torch::Tensor e = torch::randn({n, L, E}, torch::kFloat64);
  torch::Tensor w_ih = torch::randn({3 * H, E}, torch::kFloat64),
                w_hh = torch::randn({3 * H, H}, torch::kFloat64),
                b_ih = torch::randn({3 * H}, torch::kFloat64),
                b_hh = torch::randn({3 * H}, torch::kFloat64);
  torch::Tensor ones = torch::ones({n, L}, torch::kFloat64);
  torch::Tensor mine = gru_last_state(e, ones, w_ih, w_hh, b_ih, b_hh);
  auto ref = torch::gru(e, torch::zeros({1, n, H}, torch::kFloat64), {w_ih, w_hh, b_ih, b_hh},
                        /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0, /*train=*/false,
                        /*bidirectional=*/false, /*batch_first=*/true);
  EXPECT_TRUE(torch::allclose(mine, std::get<1>(ref)[0], 1e-12, 1e-12));
  // Padding after step 3: the state of the first three steps.
  torch::Tensor mask = ones.clone();
  mask.slice(1, 3).zero_();
  torch::Tensor three =
      gru_last_state(e.slice(1, 0, 3), ones.slice(1, 0, 3), w_ih, w_hh, b_ih, b_hh);
  EXPECT_TRUE(torch::allclose(gru_last_state(e, mask, w_ih, w_hh, b_ih, b_hh), three));
  EXPECT_FALSE(torch::allclose(mine, three));  // the check can fail
}

TEST(Embedding, PoolsOverCodesOnlyAndBatchedEqualsPerTask) {
  auto m = small_model("mean");
  Params p = m->init(1);
  // Only history's first code set, the rest padding: mean pooling gives that
  // code's row, so the features equal those of a row with the code repeated.
  torch::Tensor a = items(1, 5), b = a.clone();
  a.slice(1, 4, 7).copy_(torch::tensor({{3, 0, 0}}));
  b.slice(1, 4, 7).copy_(torch::tensor({{3, 3, 3}}));
  EXPECT_TRUE(torch::allclose(m->forward(p, a, Mode::kTrain), m->forward(p, b, Mode::kTrain)));
  // Task-batched: T forward calls.
  auto g = small_model();
  Params q = g->init(2);
  torch::Tensor x = torch::stack({items(5, 1), items(5, 2)});
  Params stacked;
  for (size_t i = 0; i < q.size(); ++i)
    stacked.add(q.names[i], torch::stack({q.tensors[i], q.tensors[i] * 1.5}));
  torch::Tensor out = g->forward_batched(stacked, x, Mode::kTrain);
  Params second = q;
  for (auto& t : second.tensors) t = t * 1.5;
  EXPECT_TRUE(torch::allclose(out[0], g->forward(q, x[0], Mode::kTrain)));
  EXPECT_TRUE(torch::allclose(out[1], g->forward(second, x[1], Mode::kTrain)));
}

// Second-order MAML through lookups, pooling and the GRU, with the tables
// adapted in the inner loop or not (the default): exact against finite
// differences; and the default leaves every table where it started.
TEST(Embedding, SecondOrderMetaGradientMatchesFiniteDifferences) {
  auto m = small_model();
  const Episode e = episode(7);
  for (bool inner : {false, true}) {
    GradientLearner maml(*m, TaskKind::kPreference, opts("maml", inner));
    Params theta = maml.init(1).detached(true);
    std::vector<torch::Tensor> g = test::zeros_like(theta);
    maml.accumulate_meta_gradient(theta, e, g);
    auto loss = [&](const Params& p) {
      auto [fast, out] = maml.adapt(p.detached(true), single_episode(e), 2, false);
      return task_loss(TaskKind::kPreference, out, e.query_y).item<double>();
    };
    const auto fd = test::finite_difference(theta, loss);
    EXPECT_LT(relative_error(g, fd), 1e-6) << "inner_embeddings " << inner;
    for (size_t i = 0; i < theta.size(); ++i)  // every part gets a meta-gradient
      EXPECT_GT(g[i].abs().sum().item<double>(), 0) << theta.names[i];
    auto [fast, out] = maml.adapt(theta.detached(true), single_episode(e), 2, false);
    for (const std::string name : {"emb.brand", "emb.history", "gru.history.w_hh"}) {
      const bool same = torch::equal(fast.at(name), theta.at(name));
      EXPECT_EQ(same, !inner) << name;
    }
    EXPECT_FALSE(torch::equal(fast.at("body.0.weight"), theta.at("body.0.weight")));
  }
}

// Sparse tables exchange table rows only: a learned rate per table entry
// (metasgd with inner_embeddings) is refused by name, not met with a shape
// error in the middle of a step.
TEST(Embedding, SparseTablesRefuseRatesPerTableEntry) {
  auto m = small_model();
  LearnerOptions o = opts("metasgd", true);
  GradientLearner msgd(*m, TaskKind::kPreference, o);
  try {
    SparseTables tables(msgd.init(1), fields());
    ADD_FAILURE() << "accepted lr.emb.*";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("lr.emb."), std::string::npos) << e.what();
  }
  GradientLearner dense_rates(*m, TaskKind::kPreference, opts("metasgd", false));
  SparseTables fine(dense_rates.init(1), fields());  // no rate for table entries: accepted
  EXPECT_GT(fine.dense_offset(), 0);
}

TEST(Embedding, RefusesDataWithoutASchemaAndAWrongWidth) {
  ModelSpec s;
  s.name = "embedding";
  s.input_shape = {7};
  EXPECT_THROW(make_model(s), UserError);
  s.fields = fields();
  s.input_shape = {8};
  EXPECT_THROW(make_model(s), UserError);
}

// The task context (model.context): one more feature, linear in ctx.vector
// and zero at the start; the rest of the features do not depend on it.
TEST(Embedding, TaskContextIsOneMoreFeatureLinearInTheContext) {
  auto m = small_model("gru", 3);
  EXPECT_EQ(m->feature_dim(), 4);
  Params p = m->init(1);
  EXPECT_TRUE(torch::equal(p.at("ctx.vector"), torch::zeros({3}, torch::kFloat64)));
  const torch::Tensor x = items(5, 3);
  const torch::Tensor f0 = m->features(p, x, Mode::kTrain);
  EXPECT_TRUE(torch::equal(f0.select(1, 3), torch::zeros({5}, torch::kFloat64)));
  auto with = [&](const torch::Tensor& v) {
    Params q = p;
    q.tensors[q.index_of("ctx.vector")] = v;
    return m->features(q, x, Mode::kTrain);
  };
  const torch::Tensor a = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64),
                      b = torch::tensor({0.3, 0.7, -1.0}, torch::kFloat64);
  const torch::Tensor fa = with(a), fb = with(b), fab = with(a + b);
  EXPECT_GT(fa.select(1, 3).abs().min().item<double>(), 0);
  EXPECT_TRUE(torch::allclose(fab.select(1, 3), fa.select(1, 3) + fb.select(1, 3)));
  EXPECT_TRUE(torch::equal(fa.slice(1, 0, 3), f0.slice(1, 0, 3)));
  // model.context belongs to the embedding model.
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {7};
  s.context = 2;
  EXPECT_THROW(make_model(s), UserError);
}

// learner.inner_params: context: the inner loop adapts the task context
// alone (CAVIA); the second-order meta-gradient through it is exact, and
// every parameter, the projection included, gets one.
TEST(Embedding, ContextOnlyInnerLoopAdaptsTheContextAloneWithExactMetaGradients) {
  auto m = small_model("gru", 3);
  const Episode e = episode(9);
  LearnerOptions o = opts("maml", false);
  o.inner_params = "context";
  GradientLearner maml(*m, TaskKind::kPreference, o);
  Params theta = maml.init(1).detached(true);
  auto [fast, out] = maml.adapt(theta.detached(true), single_episode(e), 2, false);
  for (size_t i = 0; i < theta.size(); ++i)
    EXPECT_EQ(torch::equal(fast.at(theta.names[i]), theta.tensors[i]),
              theta.names[i] != "ctx.vector")
        << theta.names[i];
  const std::vector<torch::Tensor> g = expect_exact_meta_gradient(maml, theta, e);
  for (size_t i = 0; i < theta.size(); ++i)
    EXPECT_GT(g[i].abs().sum().item<double>(), 0) << theta.names[i];
  // The dense default adapts the context with the dense layers.
  GradientLearner dense(*m, TaskKind::kPreference, opts("maml", false));
  auto [fd, od] = dense.adapt(theta.detached(true), single_episode(e), 2, false);
  EXPECT_FALSE(torch::equal(fd.at("ctx.vector"), theta.at("ctx.vector")));
  EXPECT_FALSE(torch::equal(fd.at("body.0.weight"), theta.at("body.0.weight")));
}

TEST(Embedding, ContextOnlyInnerLoopIsRefusedWithoutAContextOrForAnil) {
  LearnerOptions o = opts("maml", false);
  o.inner_params = "context";
  auto plain = small_model();
  EXPECT_THROW(GradientLearner(*plain, TaskKind::kPreference, o), UserError);
  auto with = small_model("gru", 2);
  GradientLearner ok(*with, TaskKind::kPreference, o);
  o.name = "anil";
  EXPECT_THROW(GradientLearner(*with, TaskKind::kPreference, o), UserError);
  o.name = "maml";
  o.inner_params = "tables";
  EXPECT_THROW(GradientLearner(*with, TaskKind::kPreference, o), UserError);
  o.inner_params = "context";
  o.inner_embeddings = true;  // would be ignored: refused
  EXPECT_THROW(GradientLearner(*with, TaskKind::kPreference, o), UserError);
}

// The task context and the summed support loss on the task-batched path and
// the recomputing backward pass: the per-task meta-gradients, for maml and
// metasgd (its rate for ctx.vector).
TEST(Embedding, ContextAndSummedLossSameMetaGradientsBatchedAndRecomputed) {
  auto m = small_model("gru", 3);
  std::vector<Episode> eps;
  for (uint64_t t = 0; t < 3; ++t) eps.push_back(episode(20 + t));
  for (const std::string name : {"maml", "metasgd"}) {
    SCOPED_TRACE(name);
    LearnerOptions o = opts(name, false);
    o.inner_params = "context";
    o.inner_loss = "sum";
    o.inner_lr = 0.05;
    o.inner_loop = "per_task";
    GradientLearner per_task(*m, TaskKind::kPreference, o);
    o.inner_loop = "batched";
    GradientLearner batched(*m, TaskKind::kPreference, o);
    ASSERT_TRUE(batched.batching(eps));
    const Params theta = per_task.init(4).detached(true);
    if (name == "metasgd") EXPECT_TRUE(theta.contains("lr.ctx.vector"));
    EXPECT_EQ(theta.contains("lr.body.0.weight"), false);
    auto g1 = test::zeros_like(theta), g2 = test::zeros_like(theta), g3 = test::zeros_like(theta);
    per_task.accumulate_meta_gradients(theta, eps, g1);
    batched.accumulate_meta_gradients(theta, eps, g2);
    for (const auto& e : eps) per_task.accumulate_recomputed(theta, single_episode(e), g3);
    EXPECT_GT(g1[theta.index_of("ctx.proj")].abs().max().item<double>(), 0);
    EXPECT_LT(test::max_rel_diff(g1, g2), 1e-10);
    EXPECT_LT(test::max_rel_diff(g1, g3), 1e-10);
  }
}

// learner.inner_loss: sum: the support loss summed, so one step equals the
// mean's step at n times the rate (n support items), and a smaller support
// set moves the start less.
TEST(Embedding, SummedInnerLossStepsLikeTheMeanAtNTimesTheRate) {
  auto m = small_model("gru", 3);
  const Episode e = episode(11);  // 6 support items
  LearnerOptions sum = opts("maml", false), mean = opts("maml", false);
  sum.inner_loss = "sum";
  sum.inner_lr = 0.05;
  mean.inner_lr = 0.3;
  GradientLearner a(*m, TaskKind::kPreference, sum), b(*m, TaskKind::kPreference, mean);
  const Params theta = a.init(2).detached(true);
  auto [fa, oa] = a.adapt(theta.detached(true), single_episode(e), 1, false);
  auto [fb, ob] = b.adapt(theta.detached(true), single_episode(e), 1, false);
  for (size_t i = 0; i < theta.size(); ++i)
    EXPECT_TRUE(torch::allclose(fa.at(theta.names[i]), fb.at(theta.names[i]), 1e-12, 1e-12))
        << theta.names[i];
  EXPECT_FALSE(torch::equal(fa.at("body.0.weight"), theta.at("body.0.weight")));
  Episode one = e;
  one.support_x = e.support_x.slice(0, 0, 1);
  one.support_y = e.support_y.slice(0, 0, 1);
  auto [f1, o1] = a.adapt(theta.detached(true), single_episode(one), 1, false);
  auto [g1, p1] = b.adapt(theta.detached(true), single_episode(one), 1, false);
  const torch::Tensor moved_sum = (f1.at("ctx.vector") - theta.at("ctx.vector")).norm(),
                      moved_mean = (g1.at("ctx.vector") - theta.at("ctx.vector")).norm();
  EXPECT_NEAR(moved_sum.item<double>() * 6, moved_mean.item<double>(), 1e-12);
  mean.inner_loss = "median";
  EXPECT_THROW(GradientLearner(*m, TaskKind::kPreference, mean), UserError);
}

// model.interactions: dot appends the pairwise dot products of the embedded
// columns (brand, pooled tags, pooled history: width 2 each) to the inputs.
// Read through the task context (one-hot rows of ctx.proj pick single
// inputs), each appended input is the dot product of two parts' values.
TEST(Embedding, DotInteractionsAppendThePairwiseDotProductsOfTheEmbeddedColumns) {
  auto plain = small_model("mean", 1), dots = small_model("mean", 1, "dot");
  Params p = dots->init(1);
  EXPECT_EQ(plain->init(1).at("ctx.proj").size(1), 7);  // price, 3 x 2 embedded
  ASSERT_EQ(p.at("ctx.proj").size(1), 10);              // and 3 dot products
  const torch::Tensor x = items(6, 11);
  p.tensors[p.index_of("ctx.vector")] = torch::ones({1}, torch::kFloat64);
  auto input = [&](int64_t col) {
    Params q = p;
    torch::Tensor proj = torch::zeros({1, 10}, torch::kFloat64);
    proj[0][col] = 1;
    q.tensors[q.index_of("ctx.proj")] = proj;
    return dots->features(q, x, Mode::kEval).select(1, 3);  // after hidden {3}: the context
  };
  auto part = [&](int64_t k) { return torch::stack({input(1 + 2 * k), input(2 + 2 * k)}, 1); };
  const torch::Tensor brand = part(0), tags = part(1), history = part(2);
  EXPECT_GT(brand.abs().min().item<double>(), 0);
  EXPECT_TRUE(torch::allclose(input(7), (brand * tags).sum(1)));
  EXPECT_TRUE(torch::allclose(input(8), (brand * history).sum(1)));
  EXPECT_TRUE(torch::allclose(input(9), (tags * history).sum(1)));
  EXPECT_GT((input(7) - input(8)).abs().max().item<double>(), 1e-6);
  // The second-order path goes through them: a GRU state of the embedding
  // width joins the products, and the meta-gradient matches finite
  // differences.
  auto gru_dots = small_model("gru", 0, "dot");
  const Episode e = episode(9);
  GradientLearner maml(*gru_dots, TaskKind::kPreference, opts("maml", true));
  Params theta = maml.init(2).detached(true);
  expect_exact_meta_gradient(maml, theta, e);
  EXPECT_EQ(theta.at("body.0.weight").size(1), 10);
  // Refused: an unknown kind, a model other than embedding, and fewer than
  // two columns of the embedding width (a GRU state of another width).
  EXPECT_THROW(small_model("mean", 0, "cross"), UserError);
  ModelSpec s;
  s.name = "mlp";
  s.input_shape = {7};
  s.interactions = "dot";
  EXPECT_THROW(make_model(s), UserError);
  s.name = "embedding";
  s.fields = {fields()[0], fields()[1], fields()[3]};
  s.fields[2].offset = 2;
  s.input_shape = {5};
  s.embedding_dim = 2;
  s.gru_hidden = 3;
  s.hidden = {3};
  try {
    make_model(s);
    ADD_FAILURE() << "accepted one dotted column";
  } catch (const UserError& err) {
    EXPECT_NE(std::string(err.what()).find("two or more"), std::string::npos) << err.what();
  }
}

// model.context_rows: mean: the context reads the mean of the inputs of the
// rows one call scores. ctx.set starts at zero (the model is then the
// plain context model); a row's score depends on the other rows of its call
// through their mean only (order and repetition of the rows do not count);
// the inner loop (context only) leaves ctx.set alone and the second-order
// meta-gradient through it is exact.
TEST(Embedding, ContextRowsReadTheMeanOfTheRowsOfOneCall) {
  auto plain = small_model("gru", 3), rows = small_model("gru", 3, "none", "mean");
  Params p = rows->init(4);
  ASSERT_EQ(p.at("ctx.set").sizes(), (std::vector<int64_t>{3, 7}));
  EXPECT_TRUE(torch::equal(p.at("ctx.set"), torch::zeros({3, 7}, torch::kFloat64)));
  Params q = plain->init(4);
  q.tensors[q.index_of("ctx.vector")] = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64);
  p.tensors[p.index_of("ctx.vector")] = q.at("ctx.vector");
  const torch::Tensor x = items(6, 21);
  EXPECT_TRUE(
      torch::equal(rows->features(p, x, Mode::kTrain), plain->features(q, x, Mode::kTrain)));
  torch::manual_seed(5);
  p.tensors[p.index_of("ctx.set")] = torch::randn({3, 7}, torch::kFloat64);
  const torch::Tensor f = rows->features(p, x, Mode::kTrain);
  // The dense features do not read the other rows; the context score does.
  EXPECT_TRUE(torch::equal(f.slice(1, 0, 3), plain->features(q, x, Mode::kTrain).slice(1, 0, 3)));
  const torch::Tensor alone = rows->features(p, x.slice(0, 0, 2), Mode::kTrain);
  EXPECT_GT((alone.select(1, 3) - f.select(1, 3).slice(0, 0, 2)).abs().max().item<double>(), 1e-6);
  // Permuted rows: permuted scores; every row twice: the same mean, the
  // same scores.
  const torch::Tensor perm = torch::tensor({3, 0, 5, 1, 4, 2}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(rows->features(p, x.index_select(0, perm), Mode::kTrain),
                              f.index_select(0, perm)));
  EXPECT_TRUE(
      torch::allclose(rows->features(p, torch::cat({x, x}), Mode::kTrain).slice(0, 0, 6), f));
  // The score is the plain context model's with ctx.vector + ctx.set m, m
  // the mean input (read through one-hot rows of ctx.proj, as above).
  auto input_mean = [&](int64_t col) {
    Params r = q;
    torch::Tensor proj = torch::zeros({3, 7}, torch::kFloat64);
    proj[0][col] = 1;
    r.tensors[r.index_of("ctx.proj")] = proj;
    r.tensors[r.index_of("ctx.vector")] = torch::tensor({1.0, 0.0, 0.0}, torch::kFloat64);
    return plain->features(r, x, Mode::kTrain).select(1, 3).mean();
  };
  std::vector<torch::Tensor> m;
  for (int64_t c = 0; c < 7; ++c) m.push_back(input_mean(c));
  Params r = q;
  r.tensors[r.index_of("ctx.vector")] =
      q.at("ctx.vector") + torch::mv(p.at("ctx.set"), torch::stack(m));
  EXPECT_TRUE(torch::allclose(plain->features(r, x, Mode::kTrain), f));
  // Context-only inner loop: ctx.set is met, not adapted; exact second order.
  const Episode e = episode(13);
  LearnerOptions o = opts("maml", false);
  o.inner_params = "context";
  GradientLearner maml(*rows, TaskKind::kPreference, o);
  Params theta = p.detached(true);
  auto [fast, out] = maml.adapt(theta.detached(true), single_episode(e), 2, false);
  EXPECT_TRUE(torch::equal(fast.at("ctx.set"), theta.at("ctx.set")));
  EXPECT_FALSE(torch::equal(fast.at("ctx.vector"), theta.at("ctx.vector")));
  const std::vector<torch::Tensor> g = expect_exact_meta_gradient(maml, theta, e);
  EXPECT_GT(g[theta.index_of("ctx.set")].abs().sum().item<double>(), 0);
  // Refused: without a context, and an unknown kind.
  EXPECT_THROW(small_model("gru", 0, "none", "mean"), UserError);
  EXPECT_THROW(small_model("gru", 3, "none", "sum"), UserError);
}

// model.skip: the model neither reads nor has tables for skipped columns
// (a shared table stays while a kept column uses it); a skipped GRU column
// has no encoder. Unknown names, every column, and other models are refused.
TEST(Embedding, SkippedColumnsAreNeitherReadNorGivenTables) {
  ModelSpec s = small_model()->spec();
  s.skip = {"brand", "history"};
  auto m = make_model(s);
  const Params p = m->init(1);
  for (const auto& n : p.names)
    EXPECT_TRUE(n.rfind("emb.brand", 0) != 0 && n.rfind("gru.", 0) != 0 &&
                n.rfind("emb.history", 0) != 0)
        << n;
  EXPECT_TRUE(p.contains("emb.tags"));
  EXPECT_EQ(p.at("body.0.weight").size(1), 1 + 2);  // price and the pooled tags
  // What the model reads (sparse tables and metaemb's index look at these).
  std::vector<std::string> read;
  for (const auto& f : read_fields(m->spec())) read.push_back(f.name);
  EXPECT_EQ(read, (std::vector<std::string>{"price", "tags"}));
  const torch::Tensor x = items(6, 17);
  torch::Tensor y = x.clone();
  y.select(1, 1).copy_((x.select(1, 1) + 1).remainder(5));      // other brands
  y.slice(1, 4, 7).copy_((x.slice(1, 4, 7) + 2).remainder(6));  // other histories
  EXPECT_FALSE(torch::equal(x, y));
  EXPECT_TRUE(torch::equal(m->forward(p, x, Mode::kTrain), m->forward(p, y, Mode::kTrain)));
  torch::Tensor z = x.clone();
  z.slice(1, 2, 4).copy_((x.slice(1, 2, 4) + 1).remainder(4));  // other tags: read
  EXPECT_FALSE(torch::equal(m->forward(p, x, Mode::kTrain), m->forward(p, z, Mode::kTrain)));
  auto refused = [&](std::vector<std::string> skip, const std::string& name, const char* says) {
    ModelSpec t = s;
    t.skip = std::move(skip);
    t.name = name;
    try {
      make_model(t);
      ADD_FAILURE() << "accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused({"colour"}, "embedding", "no column 'colour'");
  refused({"price", "brand", "tags", "history"}, "embedding", "every column");
  refused({"brand"}, "mlp", "only the embedding model");
  ModelSpec t = s;
  t.name = "mlp";
  t.skip.clear();
  t.context_rows = "mean";
  EXPECT_THROW(make_model(t), UserError);  // context_rows too
}
