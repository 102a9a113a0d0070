// The cold-start workflow on the synthetic catalogue, whose category
// descriptors are informative by construction (a noisy projection of the
// category's latent preference vector).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/threads.h"
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

}  // namespace

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
