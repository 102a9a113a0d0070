#pragma once
// Shared decisions of a meta-step (docs/ARCHITECTURE.md, invariant 4: no
// rank skips a collective). Every decision that could make one rank do
// something the others do not (stop on a non-finite loss, checkpoint and
// exit on a signal, checkpoint on rank 0's clock) is made together, by one
// small integer all-reduce (max) at the step boundary, so that every rank
// reaches the same verdict.
#include <cstdint>

#include "comm/backend.h"

namespace metacat {

struct StepDecisions {
  bool nonfinite = false;       // some rank's meta-loss is not finite
  bool stop = false;            // a stop signal reached some rank
  bool checkpoint_due = false;  // rank 0's periodic-checkpoint clock ran out

  // The decisions of all ranks: each flag is set when it is set on any rank.
  // Every rank must call it, once per step.
  static StepDecisions share(comm::Backend& comm, const StepDecisions& mine) {
    int64_t v[3] = {mine.nonfinite, mine.stop, mine.checkpoint_due};
    comm.allreduce(v, 3, comm::ReduceOp::kMax);
    return {v[0] != 0, v[1] != 0, v[2] != 0};
  }
};

}  // namespace metacat
