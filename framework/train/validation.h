#pragma once
// Validation during training: every eval.val_every steps, the current
// meta-parameters on fixed episodes of the val split (eval.val_episodes
// episodes of eval.val_shots shots, drawn with eval.seed), shared out among
// the ranks; the best value of the selecting metric so far decides best.h5.
//
// Contract: run() is a collective (every rank calls it at the same steps)
// and returns the same summary on every rank. It scores through
// evaluate_method() with the evaluation's seed, so `metacat eval` of the
// same checkpoint on the val split (eval.split=val, the same seed, shots and
// episode count) gives the same numbers.
#include <cstdint>

#include "comm/backend.h"
#include "core/params.h"
#include "episodes/evaluation.h"

namespace metacat {

struct Experiment;

class Validator {
 public:
  // best_so_far: the best value recorded before a resume (NaN: none).
  // Checks at once that the val split can give such episodes.
  Validator(const Experiment& ex, comm::Backend* comm, double best_so_far);
  bool enabled() const { return every_ > 0; }
  bool due(int64_t done) const { return every_ > 0 && done % every_ == 0; }

  struct Result {
    EvalSummary summary;
    double value = 0;   // of the selecting metric (ex.best_metric)
    bool best = false;  // better than every earlier validation: save best.h5
  };
  Result run(const Params& theta);

 private:
  const Experiment& ex_;
  comm::Backend* comm_;
  int64_t every_;
  EpisodeSpec spec_;
  bool higher_better_;
  double best_;
};

}  // namespace metacat
