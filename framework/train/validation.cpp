#include "train/validation.h"

#include <cmath>

#include "core/loss.h"
#include "train/experiment.h"

namespace metacat {

Validator::Validator(const Experiment& ex, comm::Backend* comm, double best_so_far)
    : ex_(ex),
      comm_(comm),
      every_(ex.options.eval.val_every),
      spec_(ex.spec),
      higher_better_(higher_is_better(ex.best_metric)),
      best_(best_so_far) {
  spec_.shots = ex.options.eval.val_shots;
  spec_.queries = ex.options.eval.queries;
  if (every_ > 0) ex_.source->check(Split::kVal, spec_);  // now, not at the first validation
}

Validator::Result Validator::run(const Params& theta) {
  Result r;
  const EvalMethod m{ex_.learner->name(), ex_.learner.get(), theta};
  r.summary = evaluate_method(ex_, m, Split::kVal, spec_, ex_.options.eval.val_episodes,
                              ex_.options.eval.seed, comm_);
  const auto it = r.summary.metrics.find(ex_.best_metric);
  r.value = it != r.summary.metrics.end() ? it->second : r.summary.mean;
  r.best = std::isfinite(r.value) &&
           (!std::isfinite(best_) || (higher_better_ ? r.value > best_ : r.value < best_));
  if (r.best) best_ = r.value;
  return r;
}

}  // namespace metacat
