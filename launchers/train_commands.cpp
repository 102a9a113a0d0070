#include "train_commands.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "core/threads.h"
#include "train/experiment.h"
#include "train/run_lock.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace metacat::cli {

namespace {

std::shared_ptr<comm::Backend> g_backend;

struct TrainArgs {
  std::string config, run_dir, resume = "none";
  std::vector<std::string> sets;
  bool help_config = false;
};

struct EvalArgs {
  std::vector<std::string> checkpoints, baselines, sets;
  std::string json_out, episodes, data;
};

nlohmann::json results_json(const std::vector<EvalSummary>& rs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : rs) a.push_back(to_json(r));
  return a;
}

// Refuses an impossible final evaluation before the training, not after it.
void check_final_evaluation(const Experiment& ex) {
  const EvalOptions& e = ex.options.eval;
  if (!e.at_end) return;
  EpisodeSpec spec = ex.spec;
  spec.queries = e.queries;
  for (int64_t shots : e.shots) {
    spec.shots = shots;
    ex.source->check(e.split, spec);
    if (e.warm) ex.source->check(Split::kTrain, spec);
  }
}

// The verdicts compare the methods; the oracle (the true model's scores) is
// their ceiling, not a competitor, and would win every one.
std::vector<std::string> verdicts(const std::vector<EvalSummary>& results) {
  std::vector<EvalSummary> methods;
  for (const auto& r : results)
    if (r.method != "oracle") methods.push_back(r);
  std::vector<std::string> lines = format_verdicts(methods);
  // metaemb against the same parameters with the new items' random rows.
  const std::string suffix = "+metaemb";
  for (const auto& a : methods) {
    if (a.method.size() <= suffix.size() ||
        a.method.compare(a.method.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string base = a.method.substr(0, a.method.size() - suffix.size());
    for (const auto& b : methods)
      if (b.method == base && b.group == a.group && b.shots == a.shots) {
        const std::string line = format_paired(a, b);
        if (!line.empty()) lines.push_back(line);
      }
  }
  return lines;
}

// ranks 0: a single-process command that does not say so.
void say_evaluation(const EvalOptions& e, int ranks) {
  log_info() << "evaluation: " << e.episodes << " fixed " << to_string(e.split)
             << " episodes per setting (seed " << e.seed << "), mean ± 95% CI"
             << (ranks > 0 ? ", over " + std::to_string(ranks) + (ranks > 1 ? " ranks" : " rank")
                           : "");
}

int run_train(const TrainArgs& a) {
  if (a.help_config) {
    std::cout << "Config keys (YAML, dotted paths; override with --set key=value):\n"
              << Config::schema_help();
    return 0;
  }
  if (a.config.empty()) throw UserError("train: --config FILE is required");
  Config config = Config::load_file(a.config);
  for (const auto& s : a.sets) config.set(s);
  const std::string run_dir =
      a.run_dir.empty() ? "runs/" + fs::path(a.config).stem().string() : a.run_dir;
  // The backend first: an error in the options then ends every rank together.
  std::string why;
  auto comm = comm::make_backend(read_comm_options(config).backend, &why);
  g_backend = comm;
  const RunOptions opts = read_options(config);
  const std::string threads =
      apply_threads(resolve_threads(static_cast<int>(opts.threads), comm->local_size()));
  log_info() << "comm: " << why << "\nthreads: " << threads << " per rank";
  auto ex = build_experiment(config, opts, "");
  check_final_evaluation(*ex);
  // Compared learners (eval.learners) are built now, so that a combination
  // that cannot work is refused before any training, not after the run.
  std::vector<std::unique_ptr<Experiment>> compared;
  if (opts.eval.at_end)
    for (const auto& name : opts.eval.learners) {
      if (name == opts.learner.name) continue;
      const Config record = compared_learner_record(config, name);
      compared.push_back(
          build_experiment(record, read_options(record), "compared learner " + name));
    }
  // Rank 0 owns the run directory for the whole command (training, compared
  // learners, baselines, eval.json); a failure to take it ends every rank.
  std::unique_ptr<RunLock> owner;
  if (comm->rank() == 0) owner = std::make_unique<RunLock>(run_dir, opts.train.lock_wait_s);
  TrainReport r = Trainer(*ex, run_dir, true, comm, a.resume).run();
  if (!opts.eval.at_end) return 0;

  std::vector<EvalMethod> methods{{method_label(opts.learner), ex->learner.get(), r.theta}};
  // Compared learners: each a training run of its own (every rank takes
  // part; "auto": a rerun reuses or completes it), then evaluated here.
  for (const auto& cex : compared) {
    const std::string& name = cex->options.learner.name;
    log_info() << "compared learner " << name << ": meta-training for " << cex->options.train.steps
               << " steps";
    TrainReport cr = Trainer(*cex, (fs::path(run_dir) / "learners" / name).string(),
                             /*verbose=*/true, comm, "auto")
                         .run();
    methods.push_back({method_label(cex->options.learner), cex->learner.get(), cr.theta});
  }
  // (Compared learners, above, and the finetune pre-training, below, stop at
  // their own step boundaries.) A stop signal from here on finds training
  // complete and checkpointed: every rank leaves the metaemb generator's
  // training or the evaluation at the same check and exits 75 without
  // eval.json; resumed, the run finds training done and evaluates.
  const StopCheck stop = [&] { return comm->any(stop_requested()); };
  const auto stopped = [&](const char* during) {
    if (comm->rank() == 0)
      log_info() << "stop requested " << during << ": training is complete (" << r.checkpoint
                 << "); no eval.json written; exit " << kExitResume
                 << " (resume with --resume auto to evaluate)";
    return Preempted{r.steps, r.checkpoint};
  };
  std::unique_ptr<Experiment> ft;
  std::set<std::string> done;
  for (const auto& b : opts.eval.baselines) {
    const bool seen = std::any_of(methods.begin(), methods.end(),
                                  [&](const EvalMethod& m) { return m.name == b; });
    if (seen || !done.insert(b).second) continue;  // listed twice: evaluated once
    if (b == "scratch") {
      methods.push_back({"scratch", nullptr, {}});
    } else if (b == "oracle") {
      methods.push_back(oracle_method(*ex));  // build_experiment checked the data has it
    } else if (b == "metaemb") {
      try {
        methods.push_back(metaemb_method(*ex, methods.front(), comm.get(), stop));
      } catch (const EvaluationStopped&) {
        throw stopped("while training the metaemb generator");
      }
    } else if (b == "finetune" && opts.learner.name != "finetune") {
      // Pre-training is a training run: every rank takes part. "auto": a
      // resumed run reuses (or completes) its baseline's pre-training.
      ft = finetune_experiment(*ex);
      log_info() << "baseline finetune: joint pre-training for " << ft->options.train.steps
                 << " steps";
      TrainReport fr = Trainer(*ft, (fs::path(run_dir) / "baselines" / "finetune").string(),
                               /*verbose=*/true, comm, "auto")
                           .run();
      methods.push_back({"finetune", ft->learner.get(), fr.theta});
    }
  }
  // Every rank evaluates its share of the episodes; rank 0 reports.
  std::vector<EvalSummary> results;
  try {
    if (stop()) throw EvaluationStopped{};
    say_evaluation(opts.eval, comm->size());
    results = evaluate_methods(*ex, methods, /*print=*/true, comm.get(), stop);
  } catch (const EvaluationStopped&) {
    throw stopped("during the final evaluation");
  }
  if (comm->rank() != 0) return 0;
  for (const auto& line : verdicts(results)) log_info() << line;
  const std::string out = (fs::path(run_dir) / "eval.json").string();
  nlohmann::json j = {{"checkpoints", {r.checkpoint}}, {"results", results_json(results)}};
  atomic_write_text(out, j.dump(2) + "\n");
  log_info() << "evaluation written to " << out;
  return 0;
}

int run_eval(EvalArgs a) {
  if (a.checkpoints.empty()) throw UserError("eval: give at least one --checkpoint");
  // The train command's lists: eval would leave them unread.
  for (const auto& s : a.sets)
    for (const std::string key : {"eval.baselines", "eval.learners"})
      if (s.rfind(key + "=", 0) == 0)
        throw UserError("eval: --set " + key +
                        " is read by train, not by eval; here a baseline is --baseline NAME "
                        "(scratch, oracle, metaemb: see --help) and another learner its own "
                        "--checkpoint");
  // Nor do the checkpoints' own lists apply here: their train-time checks
  // (oracle scores, metaemb's model) are made for the --baseline list below.
  a.sets.push_back("eval.baselines=[]");
  a.sets.push_back("eval.learners=[]");
  if (!a.episodes.empty()) a.sets.push_back("eval.episodes_file=" + a.episodes);
  if (!a.data.empty()) a.sets.push_back("data.path=" + a.data);
  std::vector<std::unique_ptr<Experiment>> exps;
  std::vector<EvalMethod> methods;
  std::vector<std::string> paths;
  for (const auto& c : a.checkpoints) {
    const std::string path = resolve_checkpoint(c);
    const Checkpoint ck = load_checkpoint(path);
    auto ex = checkpoint_experiment(ck, path, a.sets);
    if (exps.empty())
      log_info() << "threads: "
                 << apply_threads(resolve_threads(static_cast<int>(ex->options.threads)));
    methods.push_back({method_label(ex->options.learner), ex->learner.get(), ck.params});
    exps.push_back(std::move(ex));
    paths.push_back(path);
  }
  const Experiment& first = *exps.front();
  for (const auto& b : a.baselines) {
    if (b == "scratch") {
      methods.push_back({"scratch", nullptr, {}});
    } else if (b == "oracle") {
      methods.push_back(oracle_method(first, "eval: --baseline oracle"));
    } else if (b == "metaemb") {
      methods.push_back(metaemb_method(first, methods.front()));
    } else {
      throw UserError("eval: unknown baseline '" + b +
                      "' (scratch, oracle, metaemb; evaluate a finetune run's checkpoint for the "
                      "finetune baseline)");
    }
  }
  say_evaluation(first.options.eval, 0);
  // All methods run on the first experiment's episodes (same data and seed).
  std::vector<EvalSummary> results;
  for (size_t i = 0; i < methods.size(); ++i) {
    const Experiment& ex = (methods[i].learner && i < exps.size()) ? *exps[i] : first;
    if (ex.options.eval.seed != first.options.eval.seed ||
        ex.options.data.source != first.options.data.source ||
        ex.options.data.path != first.options.data.path ||
        ex.options.eval.queries != first.options.eval.queries)
      throw UserError(
          "eval: checkpoints were trained on different data or evaluation settings (data.source, "
          "data.path, eval.seed, eval.queries); pass --set (or --data) to align them");
    auto rs = evaluate_methods(ex, {methods[i]}, /*print=*/true);
    results.insert(results.end(), rs.begin(), rs.end());
  }
  for (const auto& line : verdicts(results)) log_info() << line;
  if (!a.json_out.empty()) {
    nlohmann::json j = {{"checkpoints", paths}, {"results", results_json(results)}};
    atomic_write_text(fs::absolute(a.json_out).string(), j.dump(2) + "\n");
    log_info() << "evaluation written to " << a.json_out;
  }
  return 0;
}

}  // namespace

std::shared_ptr<comm::Backend> active_backend() { return g_backend; }

std::vector<std::pair<CLI::App*, std::function<int()>>> add_train_commands(CLI::App& app) {
  auto ta = std::make_shared<TrainArgs>();
  auto* train =
      app.add_subcommand("train", "Meta-train a learner, then evaluate it on the test split");
  train->add_option("--config", ta->config, "YAML config file (see configs/)");
  train->add_option("--run-dir", ta->run_dir,
                    "Output directory (config.yaml, metrics.jsonl, checkpoints/, eval.json); "
                    "default runs/<config name>");
  train->add_option("--set", ta->sets,
                    "Override a config key: --set learner.inner_steps=5 (repeatable)");
  train->add_flag("--help-config", ta->help_config,
                  "List every config key with type, default and meaning");
  train->add_option("--resume", ta->resume,
                    "auto: continue from the run directory's newest valid checkpoint (or start "
                    "fresh); none (default): refuse a run directory that has checkpoints; or a "
                    "checkpoint file");

  auto ea = std::make_shared<EvalArgs>();
  auto* eval =
      app.add_subcommand("eval", "Evaluate checkpoints and baselines on the same fixed episodes");
  eval->add_option("--checkpoint", ea->checkpoints,
                   "Checkpoint file, or run directory (its newest checkpoint); repeatable")
      ->required();
  eval->add_option("--baseline", ea->baselines,
                   "Also evaluate a baseline: scratch; oracle (the true model's scores; "
                   "synthetic catalogues only); or metaemb (the first checkpoint with new "
                   "items' id embeddings generated from their attributes, "
                   "baselines.metaemb.*) (repeatable)");
  eval->add_option("--set", ea->sets,
                   "Override a key of the checkpoints' configs, e.g. --set eval.episodes=100");
  eval->add_option("--json", ea->json_out, "Write the results as JSON to this file");
  eval->add_option(
      "--episodes", ea->episodes,
      "Fixed episodes from `metacat episodes` (same as --set eval.episodes_file=FILE)");
  eval->add_option("--data", ea->data, "Dataset folder, if not where the run read it (data.path)");
  return {{train, [ta] { return run_train(*ta); }}, {eval, [ea] { return run_eval(*ea); }}};
}

}  // namespace metacat::cli
