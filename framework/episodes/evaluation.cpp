#include "episodes/evaluation.h"

#include <cmath>
#include <cstdio>

namespace metacat {

Episode eval_episode(const TaskSource& source, Split split, const EpisodeSpec& spec,
                     uint64_t seed, int64_t index) {
  Rng rng(seed, static_cast<uint64_t>(index), static_cast<uint64_t>(spec.shots),
          Stream::kEvalTask);
  const int64_t src = rng.randint(source.num_sources(split));
  return source.draw(split, src, spec, rng);
}

EpisodePlan eval_plan(const TaskSource& source, Split split, const EpisodeSpec& spec,
                      uint64_t seed, int64_t index) {
  // Same stream consumption as eval_episode: draw() is materialize(plan()).
  Rng rng(seed, static_cast<uint64_t>(index), static_cast<uint64_t>(spec.shots),
          Stream::kEvalTask);
  const int64_t src = rng.randint(source.num_sources(split));
  return source.plan(split, src, spec, rng);
}

std::pair<double, double> mean_ci95(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  if (n == 0) return {std::nan(""), std::nan("")};
  const double mean = sum / n;
  if (n < 2) return {mean, 0.0};
  double ss = 0;
  for (double x : v)
    if (std::isfinite(x)) ss += (x - mean) * (x - mean);
  return {mean, 1.96 * std::sqrt(ss / (n - 1)) / std::sqrt(static_cast<double>(n))};
}

EvalSummary evaluate(const std::string& method, const TaskSource& source, Split split,
                     const EpisodeSpec& spec, int64_t episodes, uint64_t seed,
                     const Predictor& predict) {
  source.check(split, spec);
  return evaluate(method, source, spec.shots, episodes,
                  [&](int64_t i) { return eval_episode(source, split, spec, seed, i); }, predict);
}

EvalSummary evaluate(const std::string& method, const TaskSource& source, int64_t shots,
                     int64_t episodes, const EpisodeAt& episode_at, const Predictor& predict) {
  const TaskKind kind = source.kind();
  EvalSummary s;
  s.method = method;
  s.shots = shots;
  s.metric = primary_metric(kind);
  std::map<std::string, std::vector<double>> values;
  for (int64_t i = 0; i < episodes; ++i) {
    Episode e = episode_at(i);
    torch::Tensor out = predict(e, i).detach();
    for (const auto& [k, v] : task_metrics(kind, out, e.query_y)) values[k].push_back(v);
    if (e.query_category.defined()) {
      torch::Tensor score = per_item_score(kind, out, e.query_y);
      auto cat = e.query_category.accessor<int64_t, 1>();
      auto sc = score.accessor<double, 1>();
      for (int64_t j = 0; j < score.size(0); ++j) {
        auto& c = s.per_category[source.category_name(cat[j])];
        c.score_sum += sc[j];
        c.items += 1;
      }
    }
  }
  for (const auto& [k, v] : values) s.metrics[k] = mean_ci95(v).first;
  auto [mean, ci] = mean_ci95(values[s.metric]);
  s.mean = mean;
  s.ci95 = ci;
  for (double x : values[s.metric]) s.episodes += std::isfinite(x) ? 1 : 0;
  return s;
}

nlohmann::json to_json(const EvalSummary& s) {
  nlohmann::json j;
  j["method"] = s.method;
  j["shots"] = s.shots;
  j["metric"] = s.metric;
  j["mean"] = s.mean;
  j["ci95"] = s.ci95;
  j["episodes"] = s.episodes;
  j["metrics"] = s.metrics;
  nlohmann::json pc = nlohmann::json::object();
  for (const auto& [name, c] : s.per_category)
    pc[name] = {{"score", c.items ? c.score_sum / c.items : 0.0}, {"items", c.items}};
  j["per_category"] = pc;
  return j;
}

std::string format_summary(const EvalSummary& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-10s %3lld-shot  %-8s %.4f ± %.4f  (%lld episodes)",
                s.method.c_str(), static_cast<long long>(s.shots), s.metric.c_str(), s.mean,
                s.ci95, static_cast<long long>(s.episodes));
  return buf;
}

}  // namespace metacat
