// The metaemb baseline (learners/metaemb.h): which items are new, what the
// generator replaces (only their id rows), and that a trained generator
// gives new items embeddings that score better than their random rows.
#include "learners/metaemb.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "core/fields.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/rng.h"
#include "episodes/item_store.h"

using namespace metacat;

namespace {

constexpr int64_t kItems = 40, kBrands = 4, kPerItem = 12;
// Items 0..29 are in the three training categories, 30..39 in a test one;
// item i has brand i % 4 and one of 3 tags. Item 39 is also named in a
// training row's click history, so the new items are 30..38 (codes 32..40).
int64_t brand_of(int64_t i) { return i % kBrands; }

// user (2 numbers) | item | brand | tags (2 codes) | history (2 items).
std::vector<InputField> fields() {
  using R = InputField::Role;
  return {{"user", R::kNumeric, 0, 2, 0, ""},
          {"item", R::kItem, 2, 1, 2 + kItems, "item"},
          {"brand", R::kCategorical, 3, 1, 2 + kBrands, "brand"},
          {"tags", R::kMulti, 4, 2, 5, "tags"},
          {"history", R::kSequence, 6, 2, 2 + kItems, "item"}};
}

std::unique_ptr<Model> model(std::vector<std::string> skip = {}) {
  ModelSpec s;
  s.skip = std::move(skip);
  s.name = "embedding";
  s.fields = fields();
  s.input_shape = {8};
  s.hidden = {16};
  s.embedding_dim = 4;
  s.gru_hidden = 4;
  s.outputs = 1;
  s.dtype = torch::kFloat64;
  return make_model(s);
}

struct World {
  std::unique_ptr<Model> m;
  Params truth, trained;  // trained: the new items' rows still random
  std::shared_ptr<MemoryStore> store;
};

// The true model gives every item its brand's vector as id embedding; the
// labels are its clicks. The "trained" parameters know the training items'
// rows, and the new items' rows are a fresh random initialisation.
World world(std::vector<std::string> skip = {}) {
  World w;
  w.m = model(std::move(skip));
  w.truth = w.m->init(3);
  torch::Tensor table = w.truth.at("emb.item");
  torch::manual_seed(5);
  const torch::Tensor u = 3 * torch::randn({kBrands, 4}, torch::kFloat64);
  for (int64_t i = 0; i < kItems; ++i) table[2 + i].copy_(u[brand_of(i)]);
  w.trained = w.truth.detached(false);
  w.trained.tensors[w.trained.index_of("emb.item")]
      .slice(0, 2 + 30, 2 + kItems)
      .copy_(0.1 * torch::randn({10, 4}, torch::kFloat64));
  std::vector<CategoryInfo> infos;
  std::vector<torch::Tensor> xs, ys;
  Rng rng(11);
  for (int64_t c = 0; c < 4; ++c) {
    torch::Tensor x = torch::zeros({10 * kPerItem, 8}, torch::kFloat64);
    for (int64_t j = 0; j < 10 * kPerItem; ++j) {
      const int64_t i = 10 * c + j / kPerItem;
      x[j][0] = rng.normal(), x[j][1] = rng.normal();
      x[j][2] = 2 + i, x[j][3] = 2 + brand_of(i), x[j][4] = 2 + i % 3;
      x[j][6] = 2 + (i + 1) % 30;  // an earlier click on a training item
    }
    // One training row's history names item 39: its row is trained, so it
    // is not a new item.
    if (c == 0) x[0][7] = 2 + 39;
    const torch::Tensor logit = w.m->forward(w.truth, x, Mode::kEval).reshape({-1}).detach();
    torch::Tensor y = torch::zeros({x.size(0)}, torch::kFloat32);
    for (int64_t j = 0; j < x.size(0); ++j)
      y[j] = rng.uniform() < 1 / (1 + std::exp(-8 * logit[j].item<double>())) ? 1.0 : 0.0;
    infos.push_back({"c" + std::to_string(c), c < 3 ? Split::kTrain : Split::kTest, x.size(0)});
    xs.push_back(x.to(torch::kFloat32));
    ys.push_back(y);
  }
  w.store = std::make_shared<MemoryStore>(infos, xs, ys);
  return w;
}

MetaEmbOptions options() {
  MetaEmbOptions o;
  o.attributes = {"brand", "tags"};
  o.steps = 300;
  o.items = 8;
  o.rows = 4;
  o.lr = 0.01;
  return o;
}

// The test category's AUC with the new items' random rows, generated rows
// and true rows: the generated ones close more than half the gap.
void expect_generated_rows_close_the_gap(const World& w, const MetaEmb& me, const Params& gen,
                                         const ItemIndex& ix) {
  const Rows test = w.store->gather(3, [] {
    std::vector<int64_t> all(10 * kPerItem);
    for (int64_t j = 0; j < 10 * kPerItem; ++j) all[j] = j;
    return all;
  }());
  const torch::Tensor x = test.items.to(torch::kFloat64);
  auto test_auc = [&](const Params& p) {
    const torch::Tensor s = w.m->forward(p, x, Mode::kEval).reshape({-1}).detach();
    return auc(std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel()),
               std::vector<double>(test.labels.data_ptr<float>(),
                                   test.labels.data_ptr<float>() + test.labels.numel()));
  };
  const double random_rows = test_auc(w.trained),
               generated = test_auc(me.fill_cold(w.trained, gen, ix)), truth = test_auc(w.truth);
  EXPECT_GT(generated, random_rows + 0.5 * (truth - random_rows))
      << "random rows " << random_rows << ", generated " << generated << ", true rows " << truth;
}

}  // namespace

TEST(MetaEmb, IndexKnowsWhichItemsAreNewAndWhereTheOthersWereShown) {
  World w = world();
  const ItemIndex ix = index_items(*w.store, fields());
  EXPECT_EQ(ix.table, "emb.item");
  EXPECT_EQ(ix.item_column, 2);
  EXPECT_EQ(ix.cold(), 9);
  EXPECT_EQ(ix.cold(/*named_too=*/true), 10);
  EXPECT_FALSE(ix.shown[0] || ix.shown[1]);  // padding and out of vocabulary
  for (int64_t i = 0; i < kItems; ++i) {
    EXPECT_TRUE(ix.shown[2 + i]);
    EXPECT_EQ(static_cast<bool>(ix.warm[2 + i]), i < 30) << i;
    EXPECT_EQ(static_cast<bool>(ix.named[2 + i]), i < 30 || i == 39) << i;
    EXPECT_EQ(ix.attributes[2 + i][3].item<float>(), 2 + brand_of(i));
    EXPECT_EQ(ix.train_rows[2 + i].size(), i < 30 ? size_t{kPerItem} : size_t{0});
    for (int64_t r : ix.train_rows[2 + i]) EXPECT_EQ(ix.train_x[r][2].item<float>(), 2 + i);
  }
  EXPECT_EQ(ix.train_x.size(0), 30 * kPerItem);
  EXPECT_EQ(ix.train_y.size(0), 30 * kPerItem);
  // A model that skips the click history learns no row from it: item 39
  // is then new too.
  const ItemIndex no_history = index_items(*w.store, read_fields(model({"history"})->spec()));
  EXPECT_EQ(no_history.cold(), 10);
  EXPECT_FALSE(no_history.named[2 + 39]);
  // No item column: no id embeddings to generate.
  auto f = fields();
  f[1].role = InputField::Role::kCategorical;
  EXPECT_THROW(index_items(*w.store, f), UserError);
}

TEST(MetaEmb, RefusesAttributesItCannotRead) {
  auto m = model();
  auto refused = [&](std::vector<std::string> attrs, const std::string& says) {
    MetaEmbOptions o = options();
    o.attributes = std::move(attrs);
    try {
      MetaEmb me(*m, o);
      ADD_FAILURE() << "accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused({}, "list the item's attribute columns");
  refused({"price"}, "no column 'price'");
  refused({"item"}, "is the item id");
  refused({"history"}, "reads its table");
  refused({"brand", "brand"}, "listed twice");
  MetaEmb ok(*m, options());
}

// Only the new items' id rows change, to exactly what the generator makes.
TEST(MetaEmb, FillsTheNewItemsRowsAndNothingElse) {
  World w = world();
  const ItemIndex ix = index_items(*w.store, fields());
  MetaEmb me(*w.m, options());
  const Params gen = me.init(7);
  const Params filled = me.fill_cold(w.trained, gen, ix);
  ASSERT_EQ(filled.names, w.trained.names);
  for (size_t k = 0; k < filled.size(); ++k)
    if (filled.names[k] != "emb.item")
      EXPECT_TRUE(torch::equal(filled.tensors[k], w.trained.tensors[k]));
  const torch::Tensor before = w.trained.at("emb.item"), after = filled.at("emb.item");
  EXPECT_TRUE(torch::equal(after.slice(0, 0, 32), before.slice(0, 0, 32)));
  EXPECT_TRUE(torch::equal(after[41], before[41]));  // named in a training history
  const torch::Tensor want = me.generate(gen, w.trained, ix.attributes.slice(0, 32, 41));
  EXPECT_TRUE(torch::allclose(after.slice(0, 32, 41), want, 0, 1e-12));
  EXPECT_FALSE(torch::allclose(after.slice(0, 32, 41), before.slice(0, 32, 41)));
  // replace: unshown also replaces the row item 39 learned as a history entry.
  MetaEmbOptions o = options();
  o.replace = "unshown";
  const torch::Tensor all = MetaEmb(*w.m, o).fill_cold(w.trained, gen, ix).at("emb.item");
  EXPECT_TRUE(torch::equal(all.slice(0, 0, 41), after.slice(0, 0, 41)));
  EXPECT_TRUE(torch::allclose(
      all[41], me.generate(gen, w.trained, ix.attributes.slice(0, 41, 42))[0], 0, 1e-12));

  // rows_as: the ablations put other rows in the same places, nowhere else.
  auto rows_as = [&](const std::string& how, uint64_t seed = 0, const Params* from = nullptr) {
    MetaEmbOptions a = options();
    a.rows_as = how;
    const torch::Tensor t =
        MetaEmb(*w.m, a).fill_cold(w.trained, from ? *from : gen, ix, seed).at("emb.item");
    EXPECT_TRUE(torch::equal(t.slice(0, 0, 32), before.slice(0, 0, 32))) << how;
    EXPECT_TRUE(torch::equal(t[41], before[41])) << how;
    return t.slice(0, 32, 41);
  };
  const torch::Tensor shuffled = rows_as("shuffled");
  EXPECT_FALSE(torch::allclose(shuffled, want));
  // The same rows, each once, in another order.
  auto sorted = [](const torch::Tensor& t) {
    return t.index_select(0, std::get<1>(torch::sort(t.select(1, 0))));
  };
  EXPECT_TRUE(torch::allclose(sorted(shuffled), sorted(want), 0, 1e-12));
  EXPECT_TRUE(torch::equal(shuffled, rows_as("shuffled")));  // a fixed permutation
  EXPECT_TRUE(torch::allclose(rows_as("mean"), want.mean(0, true).expand_as(want), 0, 1e-12));
  EXPECT_TRUE(torch::equal(rows_as("zero"), torch::zeros_like(want)));
  const torch::Tensor warm_mean = before.slice(0, 2, 32).mean(0, true).expand_as(want);
  EXPECT_TRUE(torch::allclose(rows_as("warm_mean"), warm_mean, 0, 1e-12));
  // random: fresh rows of an untrained row's scale, the same for the same
  // training seed and another draw for another, neither the generated rows
  // nor the table's own.
  const torch::Tensor random = rows_as("random", 5);
  EXPECT_TRUE(torch::equal(random, rows_as("random", 5)));
  EXPECT_FALSE(torch::allclose(random, rows_as("random", 6)));
  EXPECT_FALSE(torch::allclose(random, want));
  EXPECT_FALSE(torch::allclose(random, before.slice(0, 32, 41)));
  // N(0, 0.1^2): the sample's spread near 0.1, its mean within 4 standard
  // errors of 0.
  EXPECT_NEAR(random.std().item<double>(), 0.1, 0.03);
  EXPECT_LT(std::abs(random.mean().item<double>()),
            0.4 / std::sqrt(static_cast<double>(random.numel())));
  // zero, warm_mean and random use no generator: another one changes nothing.
  Params other = gen;
  for (auto& g : other.tensors) g = torch::randn_like(g);
  EXPECT_FALSE(torch::allclose(rows_as("generated", 0, &other), want));
  for (const char* how : {"zero", "warm_mean", "random"}) {
    EXPECT_FALSE(MetaEmb(*w.m,
                         [&] {
                           MetaEmbOptions a = options();
                           a.rows_as = how;
                           return a;
                         }())
                     .uses_generator())
        << how;
    EXPECT_TRUE(torch::equal(rows_as(how, 5, &other), rows_as(how, 5))) << how;
  }
  MetaEmbOptions bad = options();
  bad.rows_as = "median";
  try {
    MetaEmb refused(*w.m, bad);
    ADD_FAILURE() << "accepted rows_as: median";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("baselines.metaemb.rows_as"), std::string::npos);
  }
}

// The generator learns brand -> id embedding on the training items; the new
// items' clicks are then predicted better than with their random rows, and
// training is deterministic in its seed. (Measured: random rows 0.450,
// generated 0.806, the true rows 0.843, an untrained generator 0.447.)
TEST(MetaEmb, GeneratedEmbeddingsScoreNewItemsBetterThanRandomRows) {
  World w = world();
  const ItemIndex ix = index_items(*w.store, fields());
  MetaEmb me(*w.m, options());
  MetaEmb::Report r;
  const Params gen = me.train(w.trained, ix, 7, &r);
  EXPECT_EQ(r.items, 30);
  EXPECT_LT(r.last_loss, r.first_loss);
  // The report's reference losses on fresh draws: here the trained rows
  // are the true ones, so they score best, random rows worst, and the
  // generated rows close most of the gap.
  EXPECT_GT(r.random_loss, r.trained_loss + 0.05) << r.random_loss << " " << r.trained_loss;
  EXPECT_LT(r.generated_loss, r.trained_loss + 0.5 * (r.random_loss - r.trained_loss))
      << r.generated_loss;
  const Params again = me.train(w.trained, ix, 7);
  for (size_t k = 0; k < gen.size(); ++k)
    EXPECT_TRUE(torch::equal(gen.tensors[k], again.tensors[k]));

  expect_generated_rows_close_the_gap(w, me, gen, ix);
}

// An id-heavy model (model.skip: brand and tags; it reads the item id, the
// user's numbers and the click history): the generator reads the skipped columns through
// tables of its own, learned with it, and its rows still score the new
// items far better than random ones.
TEST(MetaEmb, ReadsColumnsTheModelSkipsFromTablesOfItsOwn) {
  World w = world({"brand", "tags"});
  EXPECT_FALSE(w.trained.contains("emb.brand") || w.trained.contains("emb.tags"));
  const ItemIndex ix = index_items(*w.store, fields());
  MetaEmb me(*w.m, options());
  const Params start = me.init(7);
  ASSERT_EQ(start.at("gen.emb.brand").sizes(), (std::vector<int64_t>{2 + kBrands, 4}));
  ASSERT_EQ(start.at("gen.emb.tags").sizes(), (std::vector<int64_t>{5, 4}));
  const Params gen = me.train(w.trained, ix, 7);
  EXPECT_FALSE(torch::allclose(gen.at("gen.emb.brand"), start.at("gen.emb.brand")));
  expect_generated_rows_close_the_gap(w, me, gen, ix);
  // The model with the brand: the generator reads the model's table, and
  // has none of its own for it.
  EXPECT_FALSE(MetaEmb(*model({"tags"}), options()).init(7).contains("gen.emb.brand"));
  EXPECT_TRUE(MetaEmb(*model({"tags"}), options()).init(7).contains("gen.emb.tags"));
  // A model that skips the item column reads no id rows to generate.
  try {
    MetaEmb refused(*model({"item"}), options());
    ADD_FAILURE() << "accepted a skipped item column";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("leaves out the item column"), std::string::npos)
        << e.what();
  }
}

// The stop check is asked before step 0 and every kStopCheckEvery steps:
// exactly stop_checks() times, the count the other ranks ask it while rank
// 0 trains (a collective must match), and a true answer ends training.
TEST(MetaEmb, StopIsAskedStopChecksTimesAndEndsTraining) {
  World w = world();
  const ItemIndex ix = index_items(*w.store, fields());
  for (const int64_t steps : {1, 15, 16, 17, 33}) {
    MetaEmbOptions o = options();
    o.steps = steps;
    const MetaEmb me(*w.m, o);
    int64_t asked = 0;
    me.train(w.trained, ix, 7, nullptr, [&] { return ++asked, false; });
    EXPECT_EQ(asked, me.stop_checks()) << steps << " steps";
    EXPECT_EQ(asked, (steps + 15) / 16) << steps << " steps";
  }
  MetaEmbOptions o = options();
  o.steps = 33;
  int64_t asked = 0;
  EXPECT_THROW(MetaEmb(*w.m, o).train(w.trained, ix, 7, nullptr, [&] { return ++asked == 2; }),
               MetaEmb::GeneratorStopped);
  EXPECT_EQ(asked, 2);
}

// Both phases move the generator: the cold-phase weight, and in the
// warm-up phase the step taken on the generated embedding.
TEST(MetaEmb, TheWarmUpStepAndTheColdWeightMatter) {
  World w = world();
  const ItemIndex ix = index_items(*w.store, fields());
  auto trained = [&](double cold_weight, double warmup_lr) {
    MetaEmbOptions o = options();
    o.steps = 5;
    o.cold_weight = cold_weight;
    o.warmup_lr = warmup_lr;
    return MetaEmb(*w.m, o).train(w.trained, ix, 7).tensors.at(0);
  };
  EXPECT_FALSE(torch::allclose(trained(1, 0.1), trained(0, 0.1)));
  EXPECT_FALSE(torch::allclose(trained(0, 0.1), trained(0, 0)));
  // With the cold phase alone, the warm-up step has no say.
  EXPECT_TRUE(torch::equal(trained(1, 0.1), trained(1, 0.5)));
}
