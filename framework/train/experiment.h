#pragma once
// An experiment: the task source, model(s) and learner a config describes,
// plus the evaluation of a set of methods on the fixed test episodes.
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/model.h"
#include "episodes/evaluation.h"
#include "episodes/task_source.h"
#include "learners/learner.h"

namespace metacat {

struct Experiment {
  Config config;
  std::shared_ptr<TaskSource> source;
  EpisodeSpec spec;                   // meta-training episodes
  std::unique_ptr<Model> model;       // the learner's model
  std::unique_ptr<Model> task_model;  // outputs of one episode (scratch baseline)
  LearnerOptions options;
  std::unique_ptr<Learner> learner;
};

// The model a config describes, for items of this shape (outputs left 1).
ModelSpec model_spec(const Config& config, std::vector<int64_t> input_shape);
// The learner options a config describes (descriptor_dim: the data's).
LearnerOptions learner_options(const Config& config, int64_t descriptor_dim);

// Builds the task source a config names (loads or generates its data).
// Sources are cached per process by their data keys, so baselines and
// evaluations of the same data do not reload it.
std::shared_ptr<TaskSource> make_source(const Config& config);
// Throws UserError for anything in the config that cannot work together.
std::unique_ptr<Experiment> build_experiment(const Config& config);

struct EvalMethod {
  std::string name;  // shown in tables: learner name, "finetune" or "scratch"
  // Undefined for scratch; the learner of a trained run otherwise.
  const Learner* learner = nullptr;
  Params theta;
};

// Evaluates every method at every shot setting of eval.shots on the same
// fixed episodes; prints a table to stdout when `print` is set.
// With `comm`, the episodes are shared out among the ranks (every rank must
// call this) and every rank returns the full results.
std::vector<EvalSummary> evaluate_methods(const Experiment& ex,
                                          const std::vector<EvalMethod>& methods, bool print,
                                          comm::Backend* comm = nullptr);

}  // namespace metacat
