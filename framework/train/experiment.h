#pragma once
// An experiment: the task source, model(s) and learner a run's options
// describe, plus the evaluation of a set of methods on fixed episodes.
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "core/model.h"
#include "episodes/evaluation.h"
#include "episodes/task_source.h"
#include "learners/learner.h"
#include "train/options.h"

namespace metacat {

struct Experiment {
  // The record written to the run directory and to checkpoints (resume
  // compares it): the config as given, or for a derived run the config that
  // describes it (finetune_record). Behaviour comes from `options` only.
  Config config;
  RunOptions options;  // read once from config, or derived from it (baselines)
  // Empty for the configured run; for a derived one (a baseline's joint
  // pre-training) one line saying what it is, written above the record
  // in config.yaml.
  std::string role;
  std::shared_ptr<TaskSource> source;
  EpisodeSpec spec;                   // meta-training episodes (options.train.episode)
  std::unique_ptr<Model> model;       // the learner's model
  std::unique_ptr<Model> task_model;  // outputs of one episode (scratch baseline)
  std::unique_ptr<Learner> learner;
  // The metric that selects best.h5 (options.eval.best_metric, or the task
  // kind's primary metric), checked against the task kind.
  std::string best_metric;
};

// Builds the task source the data options name (loads or generates its
// data). Sources are cached per process by their options, so baselines and
// evaluations of the same data do not reload it.
std::shared_ptr<TaskSource> make_source(const DataOptions& data);
// Throws UserError for anything that cannot work together.
std::unique_ptr<Experiment> build_experiment(const Config& config);
std::unique_ptr<Experiment> build_experiment(const Config& record, RunOptions options,
                                             std::string role);
// The finetune baseline's joint pre-training of the run `ex`.
std::unique_ptr<Experiment> finetune_experiment(const Experiment& ex);
// The experiment a checkpoint's parameters belong to: its config, with
// `overrides` ("key=value") on top. Checks that the parameters match that
// learner's model (overrides may evaluate them as another learner of the
// same parameters, e.g. maml's as fomaml).
std::unique_ptr<Experiment> checkpoint_experiment(const Checkpoint& ck, const std::string& path,
                                                  const std::vector<std::string>& overrides = {});

struct EvalMethod {
  std::string name;  // shown in tables: learner name, "finetune", "scratch" or "oracle"
  // Undefined for scratch and the oracle; the learner of a trained run otherwise.
  const Learner* learner = nullptr;
  Params theta;
  // The oracle baseline: the true model's score of each query item
  // (Episode::query_oracle) as its one logit, through the same metrics as
  // every method and on the same episodes; nothing is adapted (the support
  // set does not change its scores). Make it with oracle_method().
  bool oracle = false;
};

// The oracle baseline of `ex`. Throws UserError naming `oracle` (and
// `asked_by`, the key or flag that asked for it) when the experiment's data
// has no true scores: only synthetic catalogues carry them.
EvalMethod oracle_method(const Experiment& ex, const std::string& asked_by = "eval.baselines");

// The metaemb baseline: `base` (a learner's method) evaluated with the id
// embeddings of new items (never shown in a training task) generated from
// their attributes (learners/metaemb.h), named "<base>+metaemb". Rank 0
// trains the generator and broadcasts it, so every rank of `comm` (all must
// call this) evaluates the same parameters. Throws UserError when the data
// or model cannot have it. `stop` (a collective with `comm`: every rank asks
// it equally often while rank 0 trains) ends the generator's training with
// EvaluationStopped on every rank alike.
EvalMethod metaemb_method(const Experiment& ex, const EvalMethod& base,
                          comm::Backend* comm = nullptr, const StopCheck& stop = {});

// One method on one set of fixed seeded episodes: the same scores whether
// called by validation during training or by the final evaluation.
EvalSummary evaluate_method(const Experiment& ex, const EvalMethod& method, Split split,
                            const EpisodeSpec& spec, int64_t episodes, uint64_t seed,
                            comm::Backend* comm = nullptr, const StopCheck& stop = {});

// Evaluates every method at every shot setting of eval.shots on the same
// fixed episodes; prints a table to stdout when `print` is set.
// With `comm`, the episodes are shared out among the ranks (every rank must
// call this) and every rank returns the full results. `stop`: see evaluate().
std::vector<EvalSummary> evaluate_methods(const Experiment& ex,
                                          const std::vector<EvalMethod>& methods, bool print,
                                          comm::Backend* comm = nullptr,
                                          const StopCheck& stop = {});

}  // namespace metacat
