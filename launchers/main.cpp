// The metacat command line: one binary, one subcommand per operation.
//
// Exit codes (core/error.h, README.md "Exit codes"): 0 success; 1 user error
// (bad flag, config or data; one message on stderr); 2 any other failure
// (reported with its message); 3 the watchdog ended a stalled job; 4 an I/O
// failure (a file or folder could not be read or written); 75 checkpointed
// on a signal, resume me.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "config/config.h"
#include "core/error.h"
#include "core/threads.h"
#include "data_commands.h"
#include "model_commands.h"
#include "report.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"metacat: distributed meta-training for cold-start categories"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  // train
  auto* train =
      app.add_subcommand("train", "Meta-train a learner, then evaluate it on the test split");
  std::string config_path, run_dir;
  std::vector<std::string> sets;
  bool help_config = false;
  train->add_option("--config", config_path, "YAML config file (see configs/)");
  train->add_option("--run-dir", run_dir,
                    "Output directory (config.yaml, metrics.jsonl, checkpoints/, eval.json); "
                    "default runs/<config name>");
  train->add_option("--set", sets,
                    "Override a config key: --set learner.inner_steps=5 (repeatable)");
  train->add_flag("--help-config", help_config,
                  "List every config key with type, default and meaning");
  std::string resume = "none";
  train->add_option("--resume", resume,
                    "auto: continue from the run directory's newest valid checkpoint (or start "
                    "fresh); none (default): refuse a run directory that has checkpoints; or a "
                    "checkpoint file");

  // eval
  auto* eval =
      app.add_subcommand("eval", "Evaluate checkpoints and baselines on the same fixed episodes");
  std::vector<std::string> checkpoints, baselines, eval_sets;
  std::string json_out;
  eval->add_option("--checkpoint", checkpoints,
                   "Checkpoint file, or run directory (its newest checkpoint); repeatable")
      ->required();
  eval->add_option("--baseline", baselines, "Also evaluate a baseline: scratch (repeatable)");
  eval->add_option("--set", eval_sets,
                   "Override a key of the checkpoints' configs, e.g. --set eval.episodes=100");
  eval->add_option("--json", json_out, "Write the results as JSON to this file");
  std::string eval_episodes, eval_data;
  eval->add_option(
      "--episodes", eval_episodes,
      "Fixed episodes from `metacat episodes` (same as --set eval.episodes_file=FILE)");
  eval->add_option("--data", eval_data, "Dataset folder, if not where the run read it (data.path)");

  auto data_cmds = metacat::cli::add_data_commands(app);
  auto model_cmds = metacat::cli::add_model_commands(app);
  data_cmds.insert(data_cmds.end(), model_cmds.begin(), model_cmds.end());

  auto* report = app.add_subcommand(
      "report", "Write a self-contained HTML report of a run (charts as inline SVG)");
  std::string report_dir, report_out;
  std::vector<std::string> report_evals;
  report->add_option("run_dir", report_dir, "Run directory")->required();
  report->add_option("--out", report_out, "Output file (default RUN_DIR/report.html)");
  report->add_option("--eval", report_evals,
                     "More eval JSON files to include (from `metacat eval --json`)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : metacat::kExitUserError;
  }

  if (*train) {
    if (help_config) {
      std::cout << "Config keys (YAML, dotted paths; override with --set key=value):\n"
                << metacat::Config::schema_help();
      return 0;
    }
    if (config_path.empty()) throw metacat::UserError("train: --config FILE is required");
    metacat::Config cfg = metacat::Config::load_file(config_path);
    for (const auto& s : sets) cfg.set(s);
    if (run_dir.empty()) run_dir = "runs/" + std::filesystem::path(config_path).stem().string();
    metacat::train_command(cfg, run_dir, resume);
  } else if (*eval) {
    if (!eval_episodes.empty()) eval_sets.push_back("eval.episodes_file=" + eval_episodes);
    if (!eval_data.empty()) eval_sets.push_back("data.path=" + eval_data);
    metacat::eval_command(checkpoints, baselines, eval_sets, json_out);
  } else if (*report) {
    const std::string path = metacat::cli::write_report(report_dir, report_out, report_evals);
    std::cout << "report: " << path << std::endl;
  } else {
    for (auto& [cmd, fn] : data_cmds)
      if (*cmd) return fn();
  }
  return 0;
}

}  // namespace

// With several ranks, a rank that fails ends the job on every rank (no rank
// is left waiting in a collective), naming itself and its host.
int fail(int code, const std::string& message) {
  auto comm = metacat::active_backend();
  if (comm && comm->size() > 1)
    comm->abort(code, message + " [rank " + std::to_string(comm->rank()) + " of " +
                          std::to_string(comm->size()) + ", " + metacat::comm::hostname() + "]");
  std::cerr << message << std::endl;
  return code;
}

int main(int argc, char** argv) {
  metacat::keep_freed_memory();
  try {
    return run(argc, argv);
  } catch (const metacat::Preempted&) {
    return metacat::kExitResume;  // checkpointed on a signal: resume me
  } catch (const metacat::UserError& e) {
    return fail(metacat::kExitUserError, std::string("error: ") + e.what());
  } catch (const metacat::IoError& e) {
    return fail(metacat::kExitIoError, std::string("error: I/O: ") + e.what());
  } catch (const std::exception& e) {
    return fail(metacat::kExitFailure, std::string("fatal: ") + e.what());
  }
}
