#include "core/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace metacat {

const char* to_string(TaskKind k) {
  switch (k) {
    case TaskKind::kClassification:
      return "classification";
    case TaskKind::kRegression:
      return "regression";
    case TaskKind::kPreference:
      return "preference";
  }
  return "?";
}

torch::Tensor task_loss(TaskKind kind, const torch::Tensor& out, const torch::Tensor& y) {
  switch (kind) {
    case TaskKind::kClassification:
      return torch::nll_loss(torch::log_softmax(out, 1), y);
    case TaskKind::kRegression:
      return torch::mse_loss(out.reshape({-1}), y.reshape({-1}));
    case TaskKind::kPreference:
      return torch::binary_cross_entropy_with_logits(out.reshape({-1}), y.reshape({-1}));
  }
  throw std::logic_error("unknown task kind");
}

const char* primary_metric(TaskKind kind) {
  switch (kind) {
    case TaskKind::kClassification:
      return "accuracy";
    case TaskKind::kRegression:
      return "mse";
    case TaskKind::kPreference:
      return "auc";
  }
  return "?";
}

bool higher_is_better(const std::string& metric) {
  return !(metric == "mse" || metric == "loss" || metric == "log_loss");
}

bool higher_is_better(TaskKind kind) { return higher_is_better(primary_metric(kind)); }

std::vector<std::string> metric_names(TaskKind kind) {
  switch (kind) {
    case TaskKind::kClassification:
      return {"accuracy", "loss"};
    case TaskKind::kRegression:
      return {"loss", "mse"};
    case TaskKind::kPreference:
      return {"accuracy", "auc", "log_loss", "loss", "ndcg@10", "ndcg@5", "recall@10", "recall@5"};
  }
  return {};
}

torch::Tensor per_item_score(TaskKind kind, const torch::Tensor& out, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  switch (kind) {
    case TaskKind::kClassification:
      return out.argmax(1).eq(y).to(torch::kFloat64);
    case TaskKind::kRegression:
      return (out.reshape({-1}) - y.reshape({-1})).pow(2).to(torch::kFloat64);
    case TaskKind::kPreference:
      return out.reshape({-1}).gt(0).to(y.scalar_type()).eq(y.reshape({-1})).to(torch::kFloat64);
  }
  throw std::logic_error("unknown task kind");
}

double auc(const std::vector<double>& s, const std::vector<double>& y) {
  const size_t n = s.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
  double pos = 0, rank_sum = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && s[idx[j + 1]] == s[idx[i]]) ++j;
    const double avg_rank = 0.5 * (i + j) + 1.0;  // 1-based, ties averaged
    for (size_t k = i; k <= j; ++k)
      if (y[idx[k]] > 0.5) rank_sum += avg_rank, pos += 1;
    i = j + 1;
  }
  const double neg = n - pos;
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

std::pair<double, double> ranking_at(const std::vector<double>& s, const std::vector<double>& y,
                                     size_t k) {
  std::vector<size_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  // Highest score first; ties keep the query set's order (a stable sort).
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  size_t positives = 0;
  for (double v : y) positives += v > 0.5;
  if (positives == 0)
    return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  double dcg = 0, ideal = 0;
  size_t hits = 0;
  for (size_t r = 0; r < std::min(k, order.size()); ++r) {
    const double discount = 1.0 / std::log2(static_cast<double>(r) + 2.0);
    if (y[order[r]] > 0.5) dcg += discount, ++hits;
    if (r < positives) ideal += discount;
  }
  return {dcg / ideal, static_cast<double>(hits) / static_cast<double>(positives)};
}

std::map<std::string, double> task_metrics(TaskKind kind, const torch::Tensor& out,
                                           const torch::Tensor& y) {
  torch::NoGradGuard ng;
  std::map<std::string, double> m;
  m["loss"] = task_loss(kind, out, y).item<double>();
  switch (kind) {
    case TaskKind::kClassification:
      m["accuracy"] = per_item_score(kind, out, y).mean().item<double>();
      break;
    case TaskKind::kRegression:
      m["mse"] = m["loss"];
      break;
    case TaskKind::kPreference: {
      m["accuracy"] = per_item_score(kind, out, y).mean().item<double>();
      m["log_loss"] = m["loss"];
      torch::Tensor s = out.reshape({-1}).to(torch::kCPU, torch::kFloat64).contiguous();
      torch::Tensor l = y.reshape({-1}).to(torch::kCPU, torch::kFloat64).contiguous();
      const std::vector<double> sv(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
      const std::vector<double> lv(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
      m["auc"] = auc(sv, lv);
      for (size_t k : {5, 10}) {
        auto [ndcg, recall] = ranking_at(sv, lv, k);
        m["ndcg@" + std::to_string(k)] = ndcg;
        m["recall@" + std::to_string(k)] = recall;
      }
      break;
    }
  }
  return m;
}

}  // namespace metacat
