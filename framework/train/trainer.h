#pragma once
// The meta-training loop (docs/ARCHITECTURE.md, "One meta-step").
//
// Each step reads as its phases: draw (this rank's task slots, from the
// TaskSampler, ahead of time by the prefetcher when a core is free),
// accumulate (the learner adds each task's meta-gradient into one flat
// buffer), reduce (one all-reduce of that buffer across ranks), decide (the
// step's shared decisions, one small integer all-reduce), step (divide by
// the meta-batch size B, optionally clip, the identical outer update on
// every rank). Between steps rank 0 coordinates: metrics, validation and
// best.h5, checkpoints (train/run_dir.h).
#include <memory>
#include <string>

#include "comm/backend.h"
#include "core/params.h"
#include "train/experiment.h"

namespace metacat {

struct TrainReport {
  Params theta;
  int64_t steps = 0;
  double seconds = 0;
  std::string checkpoint;  // the final checkpoint
};

class Trainer {
 public:
  // verbose: progress lines on stdout (rank 0). comm: the ranks to train
  // with; null means a single process.
  // resume: "none" (refuse a run directory with checkpoints), "auto" (the
  // newest valid checkpoint of run_dir, or a fresh start), or a file.
  Trainer(const Experiment& ex, std::string run_dir, bool verbose = true,
          std::shared_ptr<comm::Backend> comm = nullptr, std::string resume = "none");
  // Throws UserError (bad config or data, non-finite loss), IoError (run
  // directory), Preempted (checkpointed on a signal), CommError, or
  // std::runtime_error (parameters differ across ranks; injected faults).
  TrainReport run();

  // The all-reduced, averaged meta-gradient of `step` at theta (flat, in
  // meta-parameter order): what the outer optimiser applies. For tests.
  torch::Tensor meta_gradient(const Params& theta, int64_t step);

 private:
  const Experiment& ex_;
  std::string run_dir_;
  bool verbose_;
  std::shared_ptr<comm::Backend> comm_;
  std::string resume_;
};

}  // namespace metacat
