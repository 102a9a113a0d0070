#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "datasets/synthetic_catalogue.h"
#include "episodes/augment.h"
#include "episodes/classification_source.h"
#include "episodes/evaluation.h"
#include "episodes/preference_source.h"
#include "episodes/sampler.h"
#include "episodes/sinusoid_source.h"

using namespace metacat;

namespace {
// 6 classes x 30 items of 2x4x4 "images"; each item's first pixel holds its
// index so tests can tell items apart.
LabeledItems toy_items() {
  LabeledItems d;
  d.items = torch::zeros({180, 2, 4, 4}, torch::kUInt8);
  for (int64_t i = 0; i < 180; ++i) {
    d.items[i][0][0][0] = i % 256;
    d.items[i][1][0][0] = i / 256;
    d.labels.push_back(i % 6);
  }
  for (int c = 0; c < 6; ++c) d.class_names.push_back("class" + std::to_string(c));
  return d;
}
int64_t item_id(const torch::Tensor& x, int64_t j) {
  return std::lround(x[j][0][0][0].item<double>() * 255) +
         256 * std::lround(x[j][1][0][0].item<double>() * 255);
}
std::shared_ptr<MemoryStore> small_catalogue(int64_t categories = 48) {
  SyntheticSpec s;
  s.categories = categories;
  s.min_items = 30;
  s.max_items = 60;
  return SyntheticCatalogue(s, 11).to_store();
}
ClassificationSource toy_source(std::vector<std::vector<int64_t>> classes, int64_t ways) {
  return ClassificationSource(make_class_store(toy_items(), classes), ways);
}
}  // namespace

TEST(ClassificationSource, EpisodesRelabelAndKeepSupportQueryDisjoint) {
  ClassificationSource src = toy_source({{0, 1, 2, 3}, {}, {4, 5}}, 2);
  EXPECT_EQ(src.num_sources(Split::kTrain), 6);  // C(4, 2)
  EXPECT_EQ(src.num_sources(Split::kTest), 1);
  EpisodeSpec spec{2, 3, 4};
  Rng rng(1);
  Episode e = src.draw(Split::kTrain, 5, spec, rng);  // classes {2, 3}
  EXPECT_EQ(e.support_x.size(0), 6);
  EXPECT_EQ(e.query_x.size(0), 8);
  EXPECT_EQ(e.support_y.max().item<int64_t>(), 1);
  std::set<int64_t> s_ids, q_ids;
  for (int64_t j = 0; j < 6; ++j) {
    const int64_t id = item_id(e.support_x, j);
    s_ids.insert(id);
    // The label is the episode's relabelling of the item's true class.
    const int64_t cls = id % 6;
    EXPECT_TRUE(cls == 2 || cls == 3);
    EXPECT_EQ(e.support_joint[j].item<int64_t>(), cls);  // index in train classes {0,1,2,3}
  }
  for (int64_t j = 0; j < 8; ++j) {
    q_ids.insert(item_id(e.query_x, j));
    EXPECT_EQ(e.query_category[j].item<int64_t>(), item_id(e.query_x, j) % 6);
  }
  EXPECT_EQ(s_ids.size(), 6u);
  EXPECT_EQ(q_ids.size(), 8u);
  for (auto id : s_ids) EXPECT_EQ(q_ids.count(id), 0u);
}

TEST(ClassificationSource, BadSpecsAreUserErrors) {
  EXPECT_THROW(toy_source({{0, 1}, {}, {1, 2}}, 2), UserError);  // overlap
  EXPECT_THROW(toy_source({{0, 9}, {}, {}}, 2), UserError);      // no class 9
  ClassificationSource src = toy_source({{0, 1, 2, 3}, {}, {4, 5}}, 3);
  try {
    src.check(Split::kTest, {3, 1, 1});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("the test split has 2"), std::string::npos) << e.what();
  }
  try {
    src.check(Split::kTrain, {3, 20, 20});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("has 30 items"), std::string::npos) << e.what();
  }
}

TEST(SinusoidSource, TasksFollowTheirAmplitudeAndPhase) {
  SinusoidSource src(3, 1000);
  Rng rng(4);
  Episode e = src.draw(Split::kTrain, 17, {0, 5, 7}, rng);
  auto [amp, phase] = src.task(Split::kTrain, 17);
  EXPECT_GE(amp, 0.1);
  EXPECT_LE(amp, 5.0);
  EXPECT_GE(phase, 0.0);
  EXPECT_LE(phase, M_PI);
  torch::Tensor expect = amp * torch::sin(e.query_x.reshape({-1}).to(torch::kFloat64) - phase);
  EXPECT_TRUE(torch::allclose(e.query_y.to(torch::kFloat64), expect, 1e-5, 1e-5));
  EXPECT_NE(src.task(Split::kTest, 17), src.task(Split::kTrain, 17));
}

TEST(PreferenceSource, SplitsAreDisjointCategories) {
  auto cat = small_catalogue();
  PreferenceSource src(cat);
  std::set<int64_t> seen;
  int64_t total = 0;
  for (Split s : {Split::kTrain, Split::kVal, Split::kTest})
    for (int64_t i = 0; i < src.num_sources(s); ++i) {
      EXPECT_TRUE(seen.insert(src.category(s, i)).second);
      ++total;
    }
  EXPECT_EQ(total, 48);
  Rng rng(1);
  Episode e = src.draw(Split::kTest, 0, {0, 5, 10}, rng);
  EXPECT_EQ(e.support_x.sizes().vec(), (std::vector<int64_t>{5, 16}));
  EXPECT_TRUE(((e.query_y == 0) | (e.query_y == 1)).all().item<bool>());
}

TEST(Sampler, WorldSizeInvariantDisjointBalanced) {
  auto cat = small_catalogue();
  PreferenceSource src(cat);
  const EpisodeSpec spec{0, 3, 3};
  const int64_t B = 8, P = 8, steps = 40;
  // Reference: which source and items each slot draws with one rank.
  TaskSampler one(src, Split::kTrain, spec, 5, B, P, 0, 1);
  std::set<int64_t> covered;
  for (int world : {1, 2, 4}) {
    std::vector<std::set<int64_t>> owned(world);
    for (int r = 0; r < world; ++r) {
      TaskSampler s(src, Split::kTrain, spec, 5, B, P, r, world);
      for (int64_t step = 0; step < steps; ++step) {
        auto slots = s.my_slots(step);
        EXPECT_EQ(static_cast<int64_t>(slots.size()), B / world);
        for (int64_t g : slots) {
          owned[r].insert(s.source_of(step, g));
          covered.insert(s.source_of(step, g));
          Episode a = s.draw(step, g), b = one.draw(step, g);
          EXPECT_EQ(a.source, b.source);
          EXPECT_TRUE(torch::equal(a.support_x, b.support_x));
          EXPECT_TRUE(torch::equal(a.query_y, b.query_y));
        }
      }
    }
    for (int r = 0; r < world; ++r)
      for (int q = r + 1; q < world; ++q)
        for (int64_t x : owned[r]) EXPECT_EQ(owned[q].count(x), 0u) << "ranks share source " << x;
  }
  EXPECT_EQ(static_cast<int64_t>(covered.size()), src.num_sources(Split::kTrain));
}

TEST(Sampler, RefusesWorldSizesThatDoNotDivide) {
  auto cat = small_catalogue();
  PreferenceSource src(cat);
  try {
    TaskSampler s(src, Split::kTrain, {0, 3, 3}, 5, 8, 12, 0, 3);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("world sizes that work: 1, 2, 4"), std::string::npos)
        << e.what();
  }
}

TEST(Evaluation, FixedEpisodesAndConfidenceInterval) {
  SinusoidSource src(3, 1000);
  EpisodeSpec spec{0, 5, 10};
  Episode a = eval_episode(src, Split::kTest, spec, 99, 7);
  Episode b = eval_episode(src, Split::kTest, spec, 99, 7);
  EXPECT_TRUE(torch::equal(a.query_x, b.query_x));
  Episode c = eval_episode(src, Split::kTest, spec, 98, 7);
  EXPECT_FALSE(torch::equal(a.query_x, c.query_x));
  auto [m, ci] = mean_ci95({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m, 2.5);
  EXPECT_NEAR(ci, 1.96 * std::sqrt(5.0 / 3.0) / 2.0, 1e-12);
  // Predicting zero everywhere: MSE equals the mean square of the targets.
  EvalSummary s = evaluate("zero", src, Split::kTest, spec, 20, 99,
                           [](const Episode& e, int64_t) { return torch::zeros_like(e.query_y); });
  double expect = 0;
  for (int i = 0; i < 20; ++i)
    expect += eval_episode(src, Split::kTest, spec, 99, i).query_y.pow(2).mean().item<double>();
  EXPECT_NEAR(s.mean, expect / 20, 1e-5);
  EXPECT_EQ(s.episodes, 20);
  // Each episode's value, in episode order, for comparisons pair-wise.
  ASSERT_EQ(s.per_episode.size(), 20u);
  double sum = 0;
  for (double v : s.per_episode) sum += v;
  EXPECT_NEAR(sum / 20, s.mean, 1e-12);
  EXPECT_NEAR(s.per_episode[3],
              eval_episode(src, Split::kTest, spec, 99, 3).query_y.pow(2).mean().item<double>(),
              1e-5);
}

TEST(Evaluation, PerCategoryBreakdown) {
  ClassificationSource src = toy_source({{0, 1, 2, 3}, {}, {4, 5}}, 2);
  // Always predict episode label 0: per class, correct exactly when the class got label 0.
  EvalSummary s =
      evaluate("first", src, Split::kTest, {2, 1, 5}, 50, 1, [](const Episode& e, int64_t) {
        auto out = torch::zeros({e.query_x.size(0), 2});
        out.select(1, 0).fill_(1);
        return out;
      });
  ASSERT_EQ(s.per_category.size(), 2u);
  int64_t items = 0;
  for (const auto& [name, c] : s.per_category) items += c.items;
  EXPECT_EQ(items, 50 * 10);
  EXPECT_NEAR(s.mean, 0.5, 1e-12);
}

// Catalogue coverage@k over a whole evaluation, with the evaluation's own
// episode provider: two episodes over the same six items (ids 10..15)
// ranked the same way cover the same top 5 (5 of 6 items); ranked in
// opposite orders, every item is in some top 5. Every item is in a top 10.
TEST(Evaluation, CatalogueCoverageCountsItemsInSomeTopK) {
  PreferenceSource src(small_catalogue(8));
  auto episode_at = [](int64_t) {
    Episode e;
    e.query_x = torch::zeros({6, 1});
    e.query_y = torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f});
    e.query_item = torch::arange(10, 16, torch::kInt64);
    return e;
  };
  auto ranked = [](bool flip) {
    return [flip](const Episode&, int64_t i) {
      torch::Tensor s = torch::arange(6, torch::kFloat32);
      return (flip && i == 1 ? s : -s).reshape({6, 1});
    };
  };
  EvalSummary same = evaluate("same", src, 0, 2, episode_at, ranked(false));
  EXPECT_NEAR(same.metrics.at("coverage@5"), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(same.metrics.at("coverage@10"), 1.0, 1e-12);
  EvalSummary opposite = evaluate("opposite", src, 0, 2, episode_at, ranked(true));
  EXPECT_NEAR(opposite.metrics.at("coverage@5"), 1.0, 1e-12);
  // An episode whose queries are all clicks has no AUC: NaN in its place.
  auto one_class = [&](int64_t i) {
    Episode e = episode_at(i);
    if (i == 0) e.query_y.fill_(1);
    return e;
  };
  EvalSummary partial = evaluate("same", src, 0, 2, one_class, ranked(false));
  ASSERT_EQ(partial.per_episode.size(), 2u);
  EXPECT_TRUE(std::isnan(partial.per_episode[0]));
  EXPECT_DOUBLE_EQ(partial.per_episode[1], partial.mean);
  EXPECT_EQ(partial.episodes, 1);
  // eval.json keeps them in episode order, null where undefined.
  const nlohmann::json j = to_json(partial);
  ASSERT_TRUE(j.contains("per_episode"));
  ASSERT_EQ(j["per_episode"].size(), 2u);
  EXPECT_TRUE(j["per_episode"][0].is_null());
  EXPECT_DOUBLE_EQ(j["per_episode"][1].get<double>(), partial.mean);
  // Episodes of a packed or in-memory catalogue carry their items' ids.
  Episode e = eval_episode(src, Split::kTest, {0, 2, 5}, 1, 0);
  ASSERT_TRUE(e.query_item.defined());
  EXPECT_EQ(e.query_item.size(0), 5);
  EvalSummary real =
      evaluate("zero", src, Split::kTest, {0, 2, 5}, 4, 1, [](const Episode& e, int64_t) {
        return torch::zeros({e.query_x.size(0), 1});
      });
  EXPECT_GT(real.metrics.at("coverage@5"), 0.0);
  EXPECT_LE(real.metrics.at("coverage@5"), 1.0);
}

// Class augmentation: every training class also appears rotated and
// mirrored, as a class of its own; validation and test classes never do.
TEST(ClassAugment, TrainingClassesBecomeTheirRotationsAndMirrorsOnly) {
  auto base = make_class_store(toy_items(), {{0, 1, 2}, {3}, {4, 5}});
  for (auto [mode, k] : {std::pair{ClassAugment::kRotations, 4}, {ClassAugment::kDihedral, 8}}) {
    AugmentedStore aug(base, mode);
    ASSERT_EQ(aug.num_categories(), 6 + 3 * (k - 1));
    std::map<Split, std::set<int64_t>> bases;
    for (int64_t c = 0; c < aug.num_categories(); ++c) {
      bases[aug.info(c).split].insert(aug.base_of(c));
      if (c < 6) {
        EXPECT_EQ(aug.base_of(c), c);  // base ids are kept
        EXPECT_EQ(aug.transform_of(c), 0);
      } else {
        EXPECT_EQ(aug.info(c).split, Split::kTrain) << aug.info(c).name;
      }
    }
    EXPECT_EQ(bases[Split::kTrain], (std::set<int64_t>{0, 1, 2}));  // no val/test class leaks
    EXPECT_EQ(bases[Split::kVal], (std::set<int64_t>{3}));
    EXPECT_EQ(bases[Split::kTest], (std::set<int64_t>{4, 5}));
    ClassificationSource src(std::make_shared<AugmentedStore>(base, mode), 3);
    const int64_t n = 3 * k;
    EXPECT_EQ(src.num_sources(Split::kTrain), n * (n - 1) * (n - 2) / 6);
    for (int64_t s = 0; s < src.num_sources(Split::kTrain); s += 7) {
      Rng rng(1, s, 0);
      for (int64_t c : src.plan(Split::kTrain, s, {3, 1, 1}, rng).categories)
        EXPECT_LT(aug.base_of(c), 3);
    }
  }
  // Items of an augmented class are its base items, transformed. The toy
  // items get a second, different pixel next to the first, so that no
  // rotation or mirror maps one onto itself.
  LabeledItems asym = toy_items();
  for (int64_t i = 0; i < asym.items.size(0); ++i) asym.items[i][0][0][1] = 200;
  base = make_class_store(asym, {{0, 1, 2}, {3}, {4, 5}});
  AugmentedStore aug(base, ClassAugment::kDihedral);
  std::set<std::vector<uint8_t>> seen;
  for (int64_t c = 0; c < aug.num_categories(); ++c) {
    if (aug.base_of(c) != 1) continue;
    const Rows r = aug.gather(c, {0, 2});
    const Rows b = base->gather(1, {0, 2});
    EXPECT_TRUE(torch::equal(r.items, transform_images(b.items, aug.transform_of(c))));
    EXPECT_TRUE(torch::equal(r.labels, b.labels));
    const torch::Tensor first = r.items[0].contiguous();
    seen.insert(
        std::vector<uint8_t>(first.data_ptr<uint8_t>(), first.data_ptr<uint8_t>() + first.numel()));
  }
  EXPECT_EQ(seen.size(), 8u);  // 8 distinct images of an asymmetric one
  // The transforms are the dihedral group's: rot90 four times is the
  // identity, a mirror twice is too.
  torch::Tensor x = toy_items().items.narrow(0, 0, 2);
  EXPECT_TRUE(torch::equal(transform_images(transform_images(x, 1), 3), x));
  EXPECT_TRUE(torch::equal(transform_images(transform_images(x, 4), 4), x));
  EXPECT_FALSE(torch::equal(transform_images(x, 1), x));
}

TEST(ClassAugment, RefusesNonSquareOrNonImageItemsAndUnknownModes) {
  LabeledItems d;
  d.items = torch::zeros({6, 1, 4, 3}, torch::kUInt8);
  d.labels = {0, 1, 2, 0, 1, 2};
  d.class_names = {"a", "b", "c"};
  auto store = make_class_store(d, {{0, 1, 2}, {}, {}});
  EXPECT_THROW(AugmentedStore(store, ClassAugment::kRotations), UserError);
  EXPECT_NO_THROW(AugmentedStore(store, ClassAugment::kNone));
  EXPECT_THROW(parse_class_augment("rot"), UserError);
}

// Validation classes for a small catalogue: held-out transforms of the
// training categories, or a validation category under every transform.
// Test categories appear in neither, in any form.
TEST(ClassAugment, ValidationClassesHeldOutOrTransformedNeverFromTest) {
  auto base = make_class_store(toy_items(), {{0, 1, 2}, {3}, {4, 5}});
  {
    AugmentedStore aug(base, ClassAugment::kRotations, ValAugment::kHeldout);
    std::map<Split, std::set<std::pair<int64_t, int>>> classes;
    for (int64_t c = 0; c < aug.num_categories(); ++c)
      classes[aug.info(c).split].insert({aug.base_of(c), aug.transform_of(c)});
    std::set<std::pair<int64_t, int>> train, val{{3, 0}};
    for (int64_t b = 0; b < 3; ++b) {
      for (int t = 0; t < 3; ++t) train.insert({b, t});
      val.insert({b, 3});  // rot270 validates, never trains
    }
    EXPECT_EQ(classes[Split::kTrain], train);
    EXPECT_EQ(classes[Split::kVal], val);
    EXPECT_EQ(classes[Split::kTest], (std::set<std::pair<int64_t, int>>{{4, 0}, {5, 0}}));
    ClassificationSource src(std::make_shared<AugmentedStore>(aug), 3);
    EXPECT_EQ(src.num_sources(Split::kTrain), 84);  // C(9, 3)
    EXPECT_EQ(src.num_sources(Split::kVal), 4);     // C(4, 3)
  }
  {
    AugmentedStore aug(base, ClassAugment::kDihedral, ValAugment::kTransformed);
    std::map<Split, std::set<std::pair<int64_t, int>>> classes;
    for (int64_t c = 0; c < aug.num_categories(); ++c)
      classes[aug.info(c).split].insert({aug.base_of(c), aug.transform_of(c)});
    EXPECT_EQ(classes[Split::kTrain].size(), 24u);
    std::set<std::pair<int64_t, int>> val;
    for (int t = 0; t < 8; ++t) val.insert({3, t});
    EXPECT_EQ(classes[Split::kVal], val);  // one category, 8 validation classes
    EXPECT_EQ(classes[Split::kTest].size(), 2u);
  }
  EXPECT_THROW(AugmentedStore(base, ClassAugment::kNone, ValAugment::kHeldout), UserError);
  EXPECT_THROW(parse_val_augment("held"), UserError);
  // Transformed validation without validation categories would validate on
  // nothing: refused. Heldout makes its own.
  auto no_val = make_class_store(toy_items(), {{0, 1, 2, 3}, {}, {4, 5}});
  EXPECT_THROW(AugmentedStore(no_val, ClassAugment::kRotations, ValAugment::kTransformed),
               UserError);
  EXPECT_NO_THROW(AugmentedStore(no_val, ClassAugment::kRotations, ValAugment::kHeldout));
}

// Item augmentation: flips and zero-filled shifts of each item, drawn from
// the episode's stream; only meta-training episodes are augmented.
TEST(ItemAugment, FlipsAndShiftsTrainingItemsOnly) {
  torch::Tensor x = torch::arange(2 * 1 * 5 * 5, torch::kFloat32).reshape({2, 1, 5, 5}) + 1;
  Rng r1(3, 1, 2), r2(3, 1, 2);
  torch::Tensor a = augment_items(x, ItemAugment::kFlipShift, 2, r1);
  EXPECT_TRUE(torch::equal(a, augment_items(x, ItemAugment::kFlipShift, 2, r2)));  // same stream
  // Every output is a flip and/or shift of its input: search all of them.
  for (int64_t i = 0; i < 2; ++i) {
    bool found = false;
    for (bool flip : {false, true})
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx) {
          torch::Tensor s = flip ? x[i].flip({2}) : x[i];
          torch::Tensor want = torch::zeros_like(s);
          const int64_t h = 5 - std::abs(dy), w = 5 - std::abs(dx);
          want.narrow(1, std::max<int64_t>(dy, 0), h)
              .narrow(2, std::max<int64_t>(dx, 0), w)
              .copy_(s.narrow(1, std::max<int64_t>(-dy, 0), h)
                         .narrow(2, std::max<int64_t>(-dx, 0), w));
          found = found || torch::equal(a[i], want);
        }
    EXPECT_TRUE(found) << i;
  }
  // Over many items, both flips and all shifts occur.
  Rng r3(4, 0, 0);
  torch::Tensor many = torch::rand({200, 1, 6, 6}) + 0.1;
  torch::Tensor m = augment_items(many, ItemAugment::kShift, 1, r3);
  std::set<int64_t> zero_rows, zero_cols;
  for (int64_t i = 0; i < 200; ++i) {
    for (int64_t y : {0, 5})
      if (m[i][0][y].abs().sum().item<double>() == 0) zero_rows.insert(y);
    for (int64_t c : {0, 5})
      if (m[i][0].select(1, c).abs().sum().item<double>() == 0) zero_cols.insert(c);
  }
  EXPECT_EQ(zero_rows.size(), 2u);
  EXPECT_EQ(zero_cols.size(), 2u);
  EXPECT_TRUE(torch::equal(augment_items(x, ItemAugment::kNone, 2, r3), x));
  EXPECT_THROW(parse_item_augment("crop"), UserError);

  // Through the sampler: training episodes are augmented, others are not.
  auto make = [&](ItemAugment mode) {
    auto s = std::make_shared<ClassificationSource>(
        make_class_store(toy_items(), {{0, 1, 2}, {}, {3, 4, 5}}), 3);
    s->set_item_augment(mode, 1);
    return s;
  };
  auto plain = make(ItemAugment::kNone), aug = make(ItemAugment::kFlipShift);
  const EpisodeSpec spec{3, 2, 3};
  TaskSampler p_train(*plain, Split::kTrain, spec, 5, 2, 1, 0, 1);
  TaskSampler a_train(*aug, Split::kTrain, spec, 5, 2, 1, 0, 1);
  Episode e0 = p_train.draw(0, 0), e1 = a_train.draw(0, 0);
  EXPECT_TRUE(torch::equal(e0.support_y, e1.support_y));  // same items, same labels
  EXPECT_FALSE(torch::equal(e0.support_x, e1.support_x));
  TaskSampler p_test(*plain, Split::kTest, spec, 5, 2, 1, 0, 1);
  TaskSampler a_test(*aug, Split::kTest, spec, 5, 2, 1, 0, 1);
  EXPECT_TRUE(torch::equal(p_test.draw(0, 0).query_x, a_test.draw(0, 0).query_x));
}

// The verdict line under an evaluation: the best mean wins; a clear win only
// when the intervals are apart; lower is better for errors.
TEST(Evaluation, VerdictNamesTheWinnerAndWhetherItIsClear) {
  auto summary = [](std::string method, int64_t shots, std::string metric, double mean, double ci) {
    EvalSummary s;
    s.method = std::move(method), s.shots = shots, s.metric = std::move(metric);
    s.mean = mean, s.ci95 = ci;
    return s;
  };
  auto lines = format_verdicts(
      {summary("maml", 1, "accuracy", 0.78, 0.01), summary("protonet", 1, "accuracy", 0.81, 0.01),
       summary("scratch", 1, "accuracy", 0.70, 0.01), summary("maml", 5, "accuracy", 0.90, 0.01),
       summary("scratch", 5, "accuracy", 0.91, 0.01)});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("1-shot: protonet wins"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("against maml"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("intervals apart"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("5-shot: scratch wins"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("not a clear win"), std::string::npos) << lines[1];
  lines = format_verdicts(
      {summary("maml", 10, "mse", 0.5, 0.1), summary("finetune", 10, "mse", 2, 0.1)});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("maml wins"), std::string::npos) << lines[0];
  EXPECT_TRUE(format_verdicts({summary("maml", 1, "accuracy", 0.8, 0.01)}).empty());
  // Same episodes: the paired difference, over the episodes both define.
  EvalSummary a = summary("maml+metaemb", 0, "auc", 0.62, 0.05);
  EvalSummary b = summary("maml", 0, "auc", 0.60, 0.05);
  a.per_episode = {0.7, 0.5, 0.66, std::nan("")};
  b.per_episode = {0.68, 0.48, 0.64, 0.9};
  lines = format_verdicts({b, a});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("maml+metaemb wins"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("not a clear win); paired difference +0.0200 ± 0.0000"),
            std::string::npos)
      << lines[0];
  EXPECT_EQ(format_paired(a, b),
            "0-shot: maml+metaemb - maml, paired over 3 episodes: +0.0200 ± 0.0000 (apart from 0)");
  b.per_episode = {0.75, 0.45, 0.66, 0.2};
  EXPECT_NE(format_paired(a, b).find("(includes 0)"), std::string::npos) << format_paired(a, b);
  b.per_episode.pop_back();  // not the same episodes: no pairing
  EXPECT_EQ(format_verdicts({b, a})[0].find("paired"), std::string::npos);
  EXPECT_EQ(format_paired(a, b), "");
}

// The synthetic catalogue's in-memory store holds each item's true score;
// a preference episode carries its query items' scores (query_oracle) in the
// run's dtype. Data without true scores gives episodes without them.
TEST(PreferenceSource, EpisodesCarryTheTrueScoresOfTheirQueryItems) {
  auto store = small_catalogue();
  EXPECT_TRUE(store->has_oracle());
  PreferenceSource src(store);
  EXPECT_TRUE(src.has_oracle());
  const EpisodeSpec spec{0, 4, 6};
  Rng rng(3);
  EpisodePlan p = src.plan(Split::kTrain, 2, spec, rng);
  Episode e = src.materialize(p, spec);
  Rows q = store->gather(p.categories[0], p.query_rows);
  ASSERT_TRUE(q.oracle.defined());
  EXPECT_EQ(e.query_oracle.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(e.query_oracle, q.oracle));
  EXPECT_TRUE(torch::equal(e.query_y, q.labels));
  src.set_dtype(torch::kFloat64);
  EXPECT_EQ(src.materialize(p, spec).query_oracle.scalar_type(), torch::kFloat64);

  std::vector<CategoryInfo> infos;
  std::vector<torch::Tensor> items, labels;
  for (int64_t c = 0; c < store->num_categories(); ++c) {
    infos.push_back(store->info(c));
    items.push_back(store->items(c));
    labels.push_back(store->labels(c));
  }
  auto plain = std::make_shared<MemoryStore>(infos, items, labels);
  EXPECT_FALSE(plain->has_oracle());
  PreferenceSource plain_src(plain);
  EXPECT_FALSE(plain_src.has_oracle());
  Episode pe = plain_src.materialize(p, spec);
  EXPECT_FALSE(pe.query_oracle.defined());
  EXPECT_TRUE(torch::equal(pe.query_y, e.query_y));
  EXPECT_FALSE(toy_source({{0, 1, 2, 3}, {}, {4, 5}}, 2).has_oracle());
  EXPECT_FALSE(SinusoidSource(1, 10).has_oracle());
}

// data.id_dropout: training episodes read a share q of their rows' item ids
// as out-of-vocabulary, the same rows for the same (step, slot), the other
// columns untouched; validation and test episodes, and the store's rows,
// never change; data without an item column is refused.
TEST(PreferenceSource, IdDropoutReadsTrainingItemIdsAsOutOfVocabularyOnly) {
  using R = InputField::Role;
  std::vector<CategoryInfo> infos;
  std::vector<torch::Tensor> items, labels;
  for (int64_t c = 0; c < 6; ++c) {
    // [numeric, item code, brand code]; item codes from 2 (0 pads, 1 is OOV).
    torch::Tensor x = torch::zeros({40, 3});
    for (int64_t i = 0; i < 40; ++i) {
      x[i][0] = 0.5 * static_cast<double>(i);
      x[i][1] = static_cast<double>(2 + 40 * c + i);
      x[i][2] = static_cast<double>(2 + i % 5);
    }
    infos.push_back({"c" + std::to_string(c), c < 4 ? Split::kTrain : Split::kTest, 40});
    items.push_back(x);
    labels.push_back(torch::arange(40, torch::kFloat32).remainder(2));
  }
  auto store = std::make_shared<MemoryStore>(infos, items, labels);
  const torch::Tensor before = store->items(0).clone();
  PreferenceSource untyped(store);
  EXPECT_NO_THROW(untyped.set_id_dropout(0));
  EXPECT_THROW(untyped.set_id_dropout(0.3), UserError);  // no item column
  store->set_fields({{"price", R::kNumeric, 0, 1, 0, ""},
                     {"item", R::kItem, 1, 1, 2 + 6 * 40, "item"},
                     {"brand", R::kCategorical, 2, 1, 7, "brand"}});
  PreferenceSource plain(store), dropped(store);
  EXPECT_THROW(dropped.set_id_dropout(1.5), UserError);
  dropped.set_id_dropout(0.3);
  const EpisodeSpec spec{0, 10, 20};
  TaskSampler p_train(plain, Split::kTrain, spec, 5, 4, 4, 0, 1);
  TaskSampler d_train(dropped, Split::kTrain, spec, 5, 4, 4, 0, 1);
  int64_t rows = 0, oov = 0;
  for (int64_t step = 0; step < 10; ++step)
    for (int64_t slot = 0; slot < 4; ++slot) {
      const Episode a = p_train.draw(step, slot), b = d_train.draw(step, slot);
      EXPECT_TRUE(torch::equal(b.support_x, d_train.draw(step, slot).support_x));  // replayable
      EXPECT_TRUE(torch::equal(a.query_y, b.query_y));
      for (const auto& [ax, bx] : {std::pair{a.support_x, b.support_x}, {a.query_x, b.query_x}}) {
        // Only the item column differs, and only to the OOV code.
        EXPECT_TRUE(torch::equal(ax.select(1, 0), bx.select(1, 0)));
        EXPECT_TRUE(torch::equal(ax.select(1, 2), bx.select(1, 2)));
        const torch::Tensor changed = ax.select(1, 1).ne(bx.select(1, 1));
        EXPECT_TRUE(bx.select(1, 1).masked_select(changed).eq(kOovCode).all().item<bool>());
        EXPECT_FALSE(ax.select(1, 1).eq(kOovCode).any().item<bool>());
        rows += ax.size(0);
        oov += changed.sum().item<int64_t>();
      }
    }
  EXPECT_EQ(rows, 10 * 4 * 30);
  EXPECT_NEAR(static_cast<double>(oov) / static_cast<double>(rows), 0.3, 0.05);
  // Test episodes (and so evaluation's) keep every id; the store is intact.
  TaskSampler p_test(plain, Split::kTest, spec, 5, 2, 2, 0, 1);
  TaskSampler d_test(dropped, Split::kTest, spec, 5, 2, 2, 0, 1);
  for (int64_t slot = 0; slot < 2; ++slot)
    EXPECT_TRUE(torch::equal(p_test.draw(0, slot).query_x, d_test.draw(0, slot).query_x));
  EXPECT_TRUE(torch::equal(store->items(0), before));
  // q = 1: every training row's id is OOV.
  dropped.set_id_dropout(1);
  EXPECT_TRUE(d_train.draw(3, 1).support_x.select(1, 1).eq(kOovCode).all().item<bool>());
}
