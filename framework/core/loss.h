#pragma once
// Losses and metrics of the three task kinds.
//   classification: outputs [n, ways] logits, targets int64 class in [0, ways)
//                   loss cross-entropy; metric accuracy (higher is better)
//   regression:     outputs [n, 1], targets float; loss and metric MSE (lower)
//   preference:     outputs [n, 1] logits, targets float 0/1; loss binary
//                   cross-entropy; metrics accuracy, AUC (primary), log-loss,
//                   and ranking metrics of the query set ordered by score:
//                   NDCG@5/@10 and recall@5/@10
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace metacat {

enum class TaskKind { kClassification, kRegression, kPreference };

const char* to_string(TaskKind k);
torch::Tensor task_loss(TaskKind kind, const torch::Tensor& outputs, const torch::Tensor& targets);

// The metric summaries report first.
const char* primary_metric(TaskKind kind);
// Whether a larger value of a metric (any name task_metrics() returns) is
// better: the one home of that rule (best.h5, reports, rankings).
bool higher_is_better(const std::string& metric);
bool higher_is_better(TaskKind kind);  // of the kind's primary metric

// All metrics of one query set (no autograd). AUC is NaN when the query set
// holds a single class (undefined), and is then left out of averages.
std::map<std::string, double> task_metrics(TaskKind kind, const torch::Tensor& outputs,
                                           const torch::Tensor& targets);
// The names task_metrics() returns for a kind, sorted.
std::vector<std::string> metric_names(TaskKind kind);

// Per-item correctness (classification/preference) or squared error
// (regression), for per-category breakdowns.
torch::Tensor per_item_score(TaskKind kind, const torch::Tensor& outputs,
                             const torch::Tensor& targets);

// Binary-relevance NDCG@k and recall@k of items ranked by score, highest
// first (ties in the given order); NaN for both when no item is positive.
std::pair<double, double> ranking_at(const std::vector<double>& scores,
                                     const std::vector<double>& labels, size_t k);

// Area under the ROC curve by the rank statistic, ties counted half.
double auc(const std::vector<double>& scores, const std::vector<double>& labels);

}  // namespace metacat
