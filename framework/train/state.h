#pragma once
// The replicated training state of one rank: meta-parameters, the flat
// meta-gradient buffer and the outer optimiser (docs/ARCHITECTURE.md,
// invariant 3: after every step every rank holds the same bits; invariant
// 5: a checkpoint holds everything the next step depends on).
//
// theta's tensors are leaves that share the memory of one flat buffer, and
// grads[i] are views of one flat gradient buffer, so the all-reduce is one
// call and the outer step a few operations, with nothing reallocated per
// step.
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/optimizer.h"
#include "core/params.h"

namespace metacat {

struct Experiment;

struct TrainState {
  TrainState(const Params& init, const OptimizerSpec& spec);
  Params theta;
  torch::Tensor flat_theta, flat_grad;
  std::vector<torch::Tensor> grads;
  std::unique_ptr<Optimizer> optimizer;

  // Everything the next step depends on, for checkpoint files.
  Checkpoint checkpoint(const Experiment& ex, int64_t step, int world_size) const;
  // Sets parameters and optimiser state from a checkpoint that
  // check_resumable() accepted; UserError when the optimiser state does not
  // match train.optimizer.
  void restore(const Checkpoint& ck);
};

}  // namespace metacat
