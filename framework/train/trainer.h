#pragma once
// The meta-training loop (DESIGN.md "Data flow of one meta-step").
//
// Each step: this rank draws its task slots from the TaskSampler, the learner
// adds each task's meta-gradient into one flat buffer, the buffer is summed
// across ranks (single process for now), divided by the meta-batch size B,
// optionally clipped, and the outer optimiser steps identically everywhere.
// Rank 0 logs to stdout and RUN_DIR/metrics.jsonl and writes checkpoints.
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

// Keys whose change does not affect what the next step computes; a resume
// may change them (and says so). Any other change is refused.
bool resume_may_change(const std::string& key);

// `metacat train`: the training run, then (eval.at_end) the evaluation of the
// learner and eval.baselines on the fixed test episodes, written to
// RUN_DIR/eval.json and printed as a table.
void train_command(const Config& config, const std::string& run_dir,
                   const std::string& resume = "none");

// The backend the running command uses (for the top-level error handler:
// a failing rank must end the job on every rank). Null before one exists.
std::shared_ptr<comm::Backend> active_backend();

// `metacat eval`: evaluates checkpoints (files or run directories) and
// baselines on the same episodes. The first checkpoint's config defines data,
// episodes and baselines; `overrides` ("key=value") apply on top of it.
void eval_command(const std::vector<std::string>& checkpoints,
                  const std::vector<std::string>& baselines,
                  const std::vector<std::string>& overrides, const std::string& json_out);

}  // namespace metacat
