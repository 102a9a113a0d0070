#pragma once
// The evaluation protocol: a fixed, seeded set of episodes (episode i is drawn
// from Rng(seed, i, shots)), the same for every method and every run with the
// same seed; mean and 95% confidence interval (1.96 sigma / sqrt(n)) of the
// primary metric over episodes; all metrics' means; a per-category breakdown
// of per-item scores.
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "comm/backend.h"
#include "episodes/task_source.h"

namespace metacat {

// Catalogue coverage@k (preference data with item ids): the share of the
// distinct items of all query sets of an evaluation that appear in the top
// k of some episode's ranking; reported in EvalSummary::metrics as
// "coverage@5" and "coverage@10" (a whole-evaluation value, not a mean over
// episodes).
constexpr int64_t kCoverageAt[] = {5, 10};

struct EvalSummary {
  std::string method;
  std::string split;  // split the episodes came from ("" for stored episodes)
  std::string group;  // "warm" / "cold" when both are reported (eval.warm), else ""
  int64_t shots = 0;
  std::string metric;  // primary metric
  double mean = 0, ci95 = 0;
  int64_t episodes = 0;                   // episodes where the metric is defined
  std::map<std::string, double> metrics;  // mean of every metric
  // The primary metric of each episode (NaN where undefined), in episode
  // order: methods evaluated on the same episodes can be compared pair-wise.
  std::vector<double> per_episode;
  struct Category {
    double score_sum = 0;
    int64_t items = 0;
  };
  std::map<std::string, Category> per_category;  // per-item accuracy (or squared error)
};

// The seed of anything random in a method's adaptation to episode `index`
// of an evaluation whose episodes are drawn with `seed` (a fresh head, the
// scratch model's initialisation). The one formula: validation during
// training and the final evaluation use it, so a checkpoint scores the same
// on the same episodes either way.
uint64_t prediction_seed(uint64_t seed, int64_t index);

// Returns the method's outputs on the episode's query items.
using Predictor = std::function<torch::Tensor(const Episode&, int64_t index)>;

Episode eval_episode(const TaskSource& source, Split split, const EpisodeSpec& spec, uint64_t seed,
                     int64_t index);
// The plan of the same episode (sources with stored items only).
EpisodePlan eval_plan(const TaskSource& source, Split split, const EpisodeSpec& spec, uint64_t seed,
                      int64_t index);
// Episode i of an evaluation, from whichever provider (seeded or stored).
using EpisodeAt = std::function<Episode(int64_t index)>;

// Asked before the first episode and then every kStopCheckEvery episodes
// of a rank, at the same points on every rank (so it may be a collective):
// true ends the evaluation with EvaluationStopped, on every rank alike.
using StopCheck = std::function<bool()>;
inline constexpr int64_t kStopCheckEvery = 8;
struct EvaluationStopped {};

// With `comm`, rank r evaluates the episodes i = r (mod N) and the results
// are summed across ranks: every rank returns the same summary, equal to the
// single-process one up to the order of floating-point sums.
EvalSummary evaluate(const std::string& method, const TaskSource& source, Split split,
                     const EpisodeSpec& spec, int64_t episodes, uint64_t seed,
                     const Predictor& predict, comm::Backend* comm = nullptr,
                     const StopCheck& stop = {});

EvalSummary evaluate(const std::string& method, const TaskSource& source, int64_t shots,
                     int64_t episodes, const EpisodeAt& episode_at, const Predictor& predict,
                     comm::Backend* comm = nullptr, const StopCheck& stop = {});

// mean and 1.96 * sample std / sqrt(n) of the finite values.
std::pair<double, double> mean_ci95(const std::vector<double>& values);

nlohmann::json to_json(const EvalSummary& s);
// "maml      1-shot  accuracy 0.6123 ± 0.0150 (600 episodes)"
std::string format_summary(const EvalSummary& s);
// One line per (group, shots) setting with two or more methods: which method
// wins, by its mean, and whether its 95% interval clears the runner-up's:
// "3-shot: protonet wins, 0.8123 ± 0.0101 against maml 0.7900 ± 0.0110
// (intervals apart)" or "... (intervals overlap: not a clear win)".
// When both carry per-episode values of the same episodes, the line adds
// the paired difference (winner - runner-up, mean ± 95% CI over episodes
// where both are defined): "; paired difference +0.0123 ± 0.0040".
std::vector<std::string> format_verdicts(const std::vector<EvalSummary>& results);
// "0-shot: maml+metaemb - maml, paired over 1000 episodes: +0.0064 ± 0.0076
// (apart from 0)" for two methods on the same episodes; "" when they do
// not carry per-episode values of the same episodes.
std::string format_paired(const EvalSummary& a, const EvalSummary& b);

}  // namespace metacat
