#include "episodes/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <tuple>

#include "core/loss.h"
#include "core/rng.h"

namespace metacat {

namespace {

// The ids of a query set's items and of its k best-scored (ties in the
// given order, as ranking_at), for each k of kCoverageAt.
void add_top_items(const torch::Tensor& out, const torch::Tensor& ids, std::set<int64_t>& all,
                   std::map<int64_t, std::set<int64_t>>& top) {
  const torch::Tensor score = out.reshape({-1}).to(torch::kFloat64);
  const int64_t n = score.size(0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto sc = score.accessor<double, 1>();
  auto id = ids.accessor<int64_t, 1>();
  auto key = [&](int64_t j) {  // a NaN score ranks last
    return std::isnan(sc[j]) ? -std::numeric_limits<double>::infinity() : sc[j];
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return key(a) > key(b); });
  for (int64_t j = 0; j < n; ++j) all.insert(id[j]);
  for (int64_t k : kCoverageAt)
    for (int64_t j = 0; j < std::min(k, n); ++j) top[k].insert(id[order[j]]);
}

// The size of the union over ranks of every rank's set: each rank's ids go
// into its own segment of one buffer, summed across ranks.
size_t union_size(const std::set<int64_t>& mine, comm::Backend* comm) {
  if (!comm || comm->size() == 1) return mine.size();
  std::vector<int64_t> counts(comm->size(), 0);
  counts[comm->rank()] = static_cast<int64_t>(mine.size());
  comm->allreduce(counts.data(), counts.size());
  int64_t offset = 0, total = 0;
  for (int r = 0; r < comm->size(); ++r) {
    if (r < comm->rank()) offset += counts[r];
    total += counts[r];
  }
  std::vector<int64_t> ids(static_cast<size_t>(total), 0);
  std::copy(mine.begin(), mine.end(), ids.begin() + offset);
  comm->allreduce(ids.data(), ids.size());
  return std::set<int64_t>(ids.begin(), ids.end()).size();
}

}  // namespace

uint64_t prediction_seed(uint64_t seed, int64_t index) {
  return mix64(seed ^ mix64(static_cast<uint64_t>(index) + 77));
}

Episode eval_episode(const TaskSource& source, Split split, const EpisodeSpec& spec, uint64_t seed,
                     int64_t index) {
  Rng rng(seed, static_cast<uint64_t>(index), static_cast<uint64_t>(spec.shots), Stream::kEvalTask);
  const int64_t src = rng.randint(source.num_sources(split));
  return source.draw(split, src, spec, rng);
}

EpisodePlan eval_plan(const TaskSource& source, Split split, const EpisodeSpec& spec, uint64_t seed,
                      int64_t index) {
  // Same stream consumption as eval_episode: draw() is materialize(plan()).
  Rng rng(seed, static_cast<uint64_t>(index), static_cast<uint64_t>(spec.shots), Stream::kEvalTask);
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
                     const Predictor& predict, comm::Backend* comm, const StopCheck& stop) {
  source.check(split, spec);
  EvalSummary s = evaluate(
      method, source, spec.shots, episodes,
      [&](int64_t i) { return eval_episode(source, split, spec, seed, i); }, predict, comm, stop);
  s.split = to_string(split);
  return s;
}

EvalSummary evaluate(const std::string& method, const TaskSource& source, int64_t shots,
                     int64_t episodes, const EpisodeAt& episode_at, const Predictor& predict,
                     comm::Backend* comm, const StopCheck& stop) {
  const TaskKind kind = source.kind();
  const int rank = comm ? comm->rank() : 0, world = comm ? comm->size() : 1;
  EvalSummary s;
  s.method = method;
  s.shots = shots;
  s.metric = primary_metric(kind);
  // Dense per-episode tables (metric x episode, value and "defined" flag) and
  // per-category sums, so that ranks can add theirs together.
  const std::vector<std::string> names = metric_names(kind);
  const int64_t m = static_cast<int64_t>(names.size());
  std::vector<double> value(m * episodes, 0.0), defined(m * episodes, 0.0);
  std::map<int64_t, std::pair<double, double>> cats;  // id -> (score sum, items)
  // Catalogue coverage: the items of every query set, and of its top k.
  std::set<int64_t> candidates;
  std::map<int64_t, std::set<int64_t>> top;  // k -> items
  // Rounds of one episode per rank: every rank goes through the same number
  // of rounds (the last may have no episode for some), so the stop check
  // is asked at the same points everywhere.
  const int64_t rounds = (episodes + world - 1) / world;
  for (int64_t round = 0; round < rounds; ++round) {
    if (stop && round % kStopCheckEvery == 0 && stop()) throw EvaluationStopped{};
    const int64_t i = round * world + rank;
    if (i >= episodes) continue;
    Episode e = episode_at(i);
    torch::Tensor out = predict(e, i).detach().cpu();
    if (kind == TaskKind::kPreference && e.query_item.defined())
      add_top_items(out, e.query_item.cpu(), candidates, top);
    auto met = task_metrics(kind, out, e.query_y);
    for (int64_t k = 0; k < m; ++k) {
      const double v = met.at(names[k]);
      if (std::isfinite(v)) value[k * episodes + i] = v, defined[k * episodes + i] = 1;
    }
    if (e.query_category.defined()) {
      torch::Tensor score = per_item_score(kind, out, e.query_y);
      auto cat = e.query_category.accessor<int64_t, 1>();
      auto sc = score.accessor<double, 1>();
      for (int64_t j = 0; j < score.size(0); ++j) {
        auto& c = cats[cat[j]];
        c.first += sc[j];
        c.second += 1;
      }
    }
  }
  if (comm && world > 1) {
    comm->allreduce(value.data(), value.size());
    comm->allreduce(defined.data(), defined.size());
    int64_t max_id = cats.empty() ? -1 : cats.rbegin()->first;
    max_id = comm->max(max_id);
    std::vector<double> sums(2 * (max_id + 1), 0.0);
    for (const auto& [id, c] : cats) sums[2 * id] = c.first, sums[2 * id + 1] = c.second;
    comm->allreduce(sums.data(), sums.size());
    cats.clear();
    for (int64_t id = 0; id <= max_id; ++id)
      if (sums[2 * id + 1] > 0) cats[id] = {sums[2 * id], sums[2 * id + 1]};
  }
  for (const auto& [id, c] : cats)
    s.per_category[source.category_name(id)] = {c.first, static_cast<int64_t>(c.second)};
  bool items = !candidates.empty();
  if (comm && world > 1) items = comm->any(items);  // every rank takes part, or none
  if (items) {
    const size_t all = union_size(candidates, comm);
    for (int64_t k : kCoverageAt)
      s.metrics["coverage@" + std::to_string(k)] =
          static_cast<double>(union_size(top[k], comm)) / static_cast<double>(all);
  }
  for (int64_t k = 0; k < m; ++k) {
    std::vector<double> v;
    for (int64_t i = 0; i < episodes; ++i)
      if (defined[k * episodes + i] > 0) v.push_back(value[k * episodes + i]);
    auto [mean, ci] = mean_ci95(v);
    s.metrics[names[k]] = mean;
    if (names[k] == s.metric) {
      s.per_episode.resize(episodes);
      for (int64_t i = 0; i < episodes; ++i)
        s.per_episode[i] = defined[k * episodes + i] > 0 ? value[k * episodes + i] : std::nan("");
      s.mean = mean;
      s.ci95 = ci;
      s.episodes = static_cast<int64_t>(v.size());
    }
  }
  return s;
}

nlohmann::json to_json(const EvalSummary& s) {
  nlohmann::json j;
  j["method"] = s.method;
  if (!s.split.empty()) j["split"] = s.split;
  if (!s.group.empty()) j["categories"] = s.group;
  j["shots"] = s.shots;
  j["metric"] = s.metric;
  j["mean"] = s.mean;
  j["ci95"] = s.ci95;
  j["episodes"] = s.episodes;
  j["metrics"] = s.metrics;
  // Per episode, in episode order (null where the metric is undefined), so
  // two evaluations of the same episodes can be compared pair-wise
  // (bench/paired.py).
  nlohmann::json pe = nlohmann::json::array();
  for (double v : s.per_episode)
    pe.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json());
  j["per_episode"] = pe;
  nlohmann::json pc = nlohmann::json::object();
  for (const auto& [name, c] : s.per_category)
    pc[name] = {{"score", c.items ? c.score_sum / c.items : 0.0}, {"items", c.items}};
  j["per_category"] = pc;
  return j;
}

namespace {
// a - b per episode where both are defined: mean, 95% CI and count (0 when
// they are not per-episode values of the same episodes).
std::tuple<double, double, size_t> paired(const EvalSummary& a, const EvalSummary& b) {
  if (a.per_episode.empty() || a.per_episode.size() != b.per_episode.size()) return {0, 0, 0};
  std::vector<double> d;
  for (size_t i = 0; i < a.per_episode.size(); ++i)
    if (std::isfinite(a.per_episode[i]) && std::isfinite(b.per_episode[i]))
      d.push_back(a.per_episode[i] - b.per_episode[i]);
  if (d.size() < 2) return {0, 0, d.size()};
  const auto [mean, ci] = mean_ci95(d);
  return {mean, ci, d.size()};
}
}  // namespace

std::string format_paired(const EvalSummary& a, const EvalSummary& b) {
  const auto [mean, ci, n] = paired(a, b);
  if (n < 2) return "";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s%lld-shot: %s - %s, paired over %zu episodes: %+.4f ± %.4f (%s)",
                a.group.empty() ? "" : (a.group + " ").c_str(), static_cast<long long>(a.shots),
                a.method.c_str(), b.method.c_str(), n, mean, ci,
                std::fabs(mean) > ci ? "apart from 0" : "includes 0");
  return buf;
}

std::vector<std::string> format_verdicts(const std::vector<EvalSummary>& results) {
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, int64_t>> settings;
  for (const auto& r : results)
    if (std::find(settings.begin(), settings.end(), std::pair{r.group, r.shots}) == settings.end())
      settings.push_back({r.group, r.shots});
  for (const auto& [group, shots] : settings) {
    std::vector<const EvalSummary*> rs;
    for (const auto& r : results)
      if (r.group == group && r.shots == shots && std::isfinite(r.mean)) rs.push_back(&r);
    if (rs.size() < 2) continue;
    const bool higher = higher_is_better(rs[0]->metric);
    std::stable_sort(rs.begin(), rs.end(), [&](const EvalSummary* a, const EvalSummary* b) {
      return higher ? a->mean > b->mean : a->mean < b->mean;
    });
    const EvalSummary &w = *rs[0], &r = *rs[1];
    const bool apart =
        higher ? w.mean - w.ci95 > r.mean + r.ci95 : w.mean + w.ci95 < r.mean - r.ci95;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s%lld-shot: %s wins, %s %.4f ± %.4f against %s %.4f ± %.4f (%s)",
                  group.empty() ? "" : (group + " ").c_str(), static_cast<long long>(shots),
                  w.method.c_str(), w.metric.c_str(), w.mean, w.ci95, r.method.c_str(), r.mean,
                  r.ci95, apart ? "intervals apart" : "intervals overlap: not a clear win");
    std::string line = buf;
    const auto [mean, ci, n] = paired(w, r);
    if (n >= 2) {
      std::snprintf(buf, sizeof buf, "; paired difference %+.4f ± %.4f", mean, ci);
      line += buf;
    }
    lines.push_back(line);
  }
  return lines;
}

std::string format_summary(const EvalSummary& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %3lld-shot  %-8s %.4f ± %.4f  (%lld episodes)",
                s.method.c_str(), static_cast<long long>(s.shots), s.metric.c_str(), s.mean, s.ci95,
                static_cast<long long>(s.episodes));
  return s.group.empty() ? std::string(buf) : s.group + "  " + buf;
}

}  // namespace metacat
