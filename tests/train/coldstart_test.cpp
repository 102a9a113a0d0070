// The cold-start workflow on the synthetic catalogue, whose category
// descriptors are informative by construction (a noisy projection of the
// category's latent preference vector).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/threads.h"
#include "data/pack.h"
#include "datasets/fashion_mnist.h"
#include "datasets/synthetic_catalogue.h"
#include "test_util.h"
#include "train/experiment.h"
#include "train/trainer.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("test", name); }

Config preference_config(bool descriptor) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/preference.yaml");
  c.set("train.steps=300");
  c.set("eval.val_every=0");
  c.set("eval.episodes=300");
  c.set("eval.shots=[0, 1]");
  c.set("eval.warm=true");
  c.set(std::string("learner.descriptor_init=") + (descriptor ? "true" : "false"));
  return c;
}

const EvalSummary& find(const std::vector<EvalSummary>& rs, const std::string& method,
                        const std::string& group, int64_t shots) {
  for (const auto& r : rs)
    if (r.method == method && r.group == group && r.shots == shots) return r;
  throw std::runtime_error("no result for " + method + "/" + group);
}

// The synthetic catalogue with the oracle baseline asked for.
Config oracle_config(const std::string& label_noise) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/preference.yaml");
  c.set("data.synthetic.categories=150");
  c.set("data.synthetic.label_noise=" + label_noise);
  c.set("eval.episodes=200");
  c.set("eval.shots=[0, 5, 10]");
  c.set("eval.warm=true");
  c.set("eval.baselines=[oracle]");
  return c;
}

std::string user_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

}  // namespace

// Zero label noise: labels are [z > 0], so the true scores rank every
// positive above every negative in every episode, through the same
// evaluation code as every method.
TEST(Oracle, NoiselessLabelsGiveAnOracleAucOfExactlyOne) {
  apply_threads(1);
  auto ex = build_experiment(oracle_config("0"));
  const EvalMethod oracle = oracle_method(*ex);
  EXPECT_EQ(oracle.name, "oracle");
  auto rs = evaluate_methods(*ex, {oracle}, false);
  ASSERT_EQ(rs.size(), 6u);  // warm and cold, at 0, 5 and 10 shots
  for (const auto& r : rs) {
    std::cout << format_summary(r) << "\n";
    EXPECT_EQ(r.method, "oracle");
    EXPECT_EQ(r.metric, "auc");
    EXPECT_EQ(r.mean, 1.0) << r.group << " " << r.shots;
    EXPECT_EQ(r.ci95, 0.0);
    EXPECT_GT(r.episodes, 180);                // an episode with one label only has no AUC
    EXPECT_EQ(r.metrics.at("accuracy"), 1.0);  // sign(z) is the label
  }
}

// With the default noise the labels are Bernoulli(sigmoid(z)): the oracle
// ranks well but not perfectly. Its numbers are those of the fixed
// evaluation episodes (recomputed here one by one from eval_episode): the
// true scores of the query items, whatever the support set.
TEST(Oracle, DefaultNoiseGivesAnOracleAucBelowOne) {
  apply_threads(1);
  auto ex = build_experiment(oracle_config("1"));
  auto rs = evaluate_methods(*ex, {oracle_method(*ex)}, false);
  ASSERT_EQ(rs.size(), 6u);
  for (const auto& r : rs) {
    std::cout << format_summary(r) << "\n";
    EXPECT_LT(r.mean, 1.0) << r.group << " " << r.shots;
    EXPECT_GT(r.mean, 0.6) << r.group << " " << r.shots;
  }
  const EvalSummary& cold5 = find(rs, "oracle", "cold", 5);
  EpisodeSpec spec = ex->spec;
  spec.shots = 5;
  spec.queries = ex->options.eval.queries;
  std::vector<double> aucs;
  for (int64_t i = 0; i < ex->options.eval.episodes; ++i) {
    Episode e = eval_episode(*ex->source, Split::kTest, spec, ex->options.eval.seed, i);
    ASSERT_TRUE(e.query_oracle.defined());
    aucs.push_back(
        task_metrics(TaskKind::kPreference, e.query_oracle.reshape({-1, 1}), e.query_y).at("auc"));
  }
  EXPECT_NEAR(cold5.mean, mean_ci95(aucs).first, 1e-12);
}

// Shards packed from the catalogue give the oracle the same scores as the
// in-memory catalogue, episode for episode.
TEST(Oracle, PackedCatalogueGivesTheInMemoryScores) {
  apply_threads(1);
  Config memory = oracle_config("1");
  memory.set("eval.warm=false");
  memory.set("eval.shots=[5]");
  auto in_memory = build_experiment(memory);
  const std::string dir = fresh_dir("oracle-shards");
  PackOptions o;
  o.out = dir;
  o.shards = 3;
  o.progress = false;
  pack_synthetic(
      SyntheticCatalogue(in_memory->options.data.synthetic, in_memory->options.data.seed),
      torch::kFloat32, o);
  Config shards = memory;
  shards.set("data.source=shards");
  shards.set("data.path=" + dir);
  auto packed = build_experiment(shards);
  EXPECT_TRUE(packed->source->has_oracle());
  auto a = evaluate_methods(*in_memory, {oracle_method(*in_memory)}, false);
  auto b = evaluate_methods(*packed, {oracle_method(*packed)}, false);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].mean, b[0].mean);
  EXPECT_EQ(a[0].metrics, b[0].metrics);
  EpisodeSpec spec{0, 5, 30};
  for (int64_t i = 0; i < 10; ++i)
    EXPECT_TRUE(
        torch::equal(eval_episode(*in_memory->source, Split::kTest, spec, 9, i).query_oracle,
                     eval_episode(*packed->source, Split::kTest, spec, 9, i).query_oracle));
}

// Data without the true model's scores: asking for the oracle is a user
// error naming it, before any training.
TEST(Oracle, RefusedOnDataWithoutTrueScores) {
  apply_threads(1);
  Config sinusoid = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/sinusoid.yaml");
  sinusoid.set("eval.baselines=[oracle]");
  std::string e = user_error([&] { build_experiment(sinusoid); });
  EXPECT_NE(e.find("eval.baselines"), std::string::npos) << e;
  EXPECT_NE(e.find("oracle"), std::string::npos) << e;
  EXPECT_NE(e.find("only synthetic catalogues"), std::string::npos) << e;

  Config fmnist =
      Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist.yaml");
  fmnist.set("data.source=fashion-mnist");
  fmnist.set(std::string("data.path=") + kFashionMnistDefaultPath);
  auto ex = build_experiment(fmnist);  // no oracle asked for: fine
  e = user_error([&] { oracle_method(*ex, "eval: --baseline oracle"); });
  EXPECT_NE(e.find("--baseline oracle"), std::string::npos) << e;
  EXPECT_NE(e.find("only synthetic catalogues"), std::string::npos) << e;
  fmnist.set("eval.baselines=[scratch, oracle]");
  e = user_error([&] { build_experiment(fmnist); });
  EXPECT_NE(e.find("oracle"), std::string::npos) << e;
}

// The command line: `metacat eval --baseline oracle` next to a checkpoint,
// --label-noise of `metacat pack`, and the refusals (exit 1).
TEST(Oracle, CommandLine) {
  const std::string bin = METACAT_BIN, src = METACAT_SOURCE_DIR;
  const std::string dir = fresh_dir("oracle-cli");
  fs::create_directories(dir);
  auto r =
      test::shell(bin + " pack --source synthetic --categories 60 --label-noise 0 --seed 3 --out " +
                  dir + "/data --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string train =
      bin + " train --config " + src +
      "/configs/preference.yaml --set data.source=shards --set data.path=" + dir +
      "/data --set train.steps=3 --set eval.val_every=0 --set threads=1";
  r = test::shell(train + " --set eval.at_end=false --run-dir " + dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::shell(
      bin + " eval --checkpoint " + dir + "/run --baseline oracle --baseline scratch" +
      " --set eval.episodes=40 --set 'eval.shots=[0, 5]' --set eval.warm=false --json " + dir +
      "/eval.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("oracle wins"), std::string::npos) << r.output;  // no verdict
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir + "/eval.json"));
  int oracles = 0;
  for (const auto& x : j["results"])
    if (x["method"] == "oracle") {
      ++oracles;
      EXPECT_EQ(x["mean"].get<double>(), 1.0) << x.dump();  // packed with --label-noise 0
    }
  EXPECT_EQ(oracles, 2);
  // Unknown baseline; data without the true scores (sinusoid), at train and eval.
  r = test::shell(bin + " eval --checkpoint " + dir + "/run --baseline nearest");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("oracle"), std::string::npos) << r.output;
  r = test::shell(bin + " train --config " + src + "/configs/sinusoid.yaml --set train.steps=2" +
                  " --set 'eval.baselines=[oracle]' --run-dir " + dir + "/sin");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("only synthetic catalogues"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/sin/checkpoints"));  // refused before training
  r = test::shell(bin + " train --config " + src +
                  "/configs/sinusoid.yaml --set train.steps=2 --set eval.at_end=false --run-dir " +
                  dir + "/sin2");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::shell(bin + " eval --checkpoint " + dir + "/sin2 --baseline oracle");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("--baseline oracle"), std::string::npos) << r.output;
  r = test::shell(bin + " pack --source synthetic --categories 20 --label-noise -1 --out " + dir +
                  "/bad --quiet");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("label_noise"), std::string::npos) << r.output;
}

TEST(ColdStart, DescriptorStartBeatsPlainStartAtZeroAndOneShot) {
  apply_threads(1);
  auto plain = build_experiment(preference_config(false));
  auto desc = build_experiment(preference_config(true));
  TrainReport rp = Trainer(*plain, fresh_dir("cs-plain"), false).run();
  TrainReport rd = Trainer(*desc, fresh_dir("cs-desc"), false).run();
  auto plain_results = evaluate_methods(*plain, {{"plain", plain->learner.get(), rp.theta}}, false);
  auto desc_results =
      evaluate_methods(*desc, {{"descriptor", desc->learner.get(), rd.theta}}, false);
  // Warm (training categories) and cold (test categories) are both reported.
  ASSERT_EQ(plain_results.size(), 4u);
  for (const char* group : {"warm", "cold"})
    for (int64_t shots : {0, 1}) {
      const EvalSummary &p = find(plain_results, "plain", group, shots),
                        &d = find(desc_results, "descriptor", group, shots);
      std::cout << format_summary(p) << "\n" << format_summary(d) << "\n";
      EXPECT_EQ(d.metric, "auc");
      EXPECT_EQ(p.split, std::string(group) == "warm" ? "train" : "test");
      // Higher AUC is better; the 95% intervals must not overlap.
      EXPECT_GT(d.mean - d.ci95, p.mean + p.ci95) << group << " " << shots << "-shot";
      EXPECT_TRUE(d.metrics.count("ndcg@10") && d.metrics.count("recall@5"));
    }
}

TEST(ColdStart, DescriptorInitTrainsWithFirstOrderAndAnil) {
  apply_threads(1);
  for (std::string name : {"fomaml", "anil"}) {
    Config c = preference_config(true);
    c.set("learner.name=" + name);
    c.set("train.steps=150");
    c.set("eval.shots=[0]");
    c.set("eval.warm=false");
    auto ex = build_experiment(c);
    TrainReport r = Trainer(*ex, fresh_dir("cs-" + name), false).run();
    // The descriptor network left its zero start: it was trained end to end.
    const torch::Tensor last = r.theta.at("desc.1.weight");
    EXPECT_GT(last.abs().max().item<double>(), 1e-3) << name;
    auto rs = evaluate_methods(*ex, {{name, ex->learner.get(), r.theta}}, false);
    std::cout << format_summary(rs[0]) << "\n";
    EXPECT_GT(rs[0].mean - rs[0].ci95, 0.55) << name << ": zero-shot AUC from descriptors";
  }
}

TEST(ColdStart, RankingMetrics) {
  // Scores rank items 0..4; positives at ranks 1 and 4 (0-based 0 and 3).
  std::vector<double> s = {0.9, 0.8, 0.7, 0.6, 0.5}, y = {1, 0, 0, 1, 0};
  auto [ndcg, recall] = ranking_at(s, y, 2);
  EXPECT_NEAR(ndcg, 1.0 / (1.0 + 1.0 / std::log2(3.0)), 1e-12);
  EXPECT_NEAR(recall, 0.5, 1e-12);
  auto [ndcg5, recall5] = ranking_at(s, y, 5);
  EXPECT_NEAR(ndcg5, (1.0 + 1.0 / std::log2(5.0)) / (1.0 + 1.0 / std::log2(3.0)), 1e-12);
  EXPECT_NEAR(recall5, 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(ranking_at(s, {0, 0, 0, 0, 0}, 3).first));
}
