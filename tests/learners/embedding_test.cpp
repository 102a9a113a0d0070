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

std::unique_ptr<Model> small_model(const std::string& sequence = "gru") {
  ModelSpec s;
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
