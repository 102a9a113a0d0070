// The metacat command line: one binary, one subcommand per operation.
//
// Exit codes (core/error.h, README.md "Exit codes"): 0 success; 1 user error
// (bad flag, config or data; one message on stderr); 2 any other failure
// (reported with its message); 3 the watchdog ended a stalled job; 4 an I/O
// failure (a file or folder could not be read or written); 75 checkpointed
// on a signal, resume me.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"
#include "core/threads.h"
#include "data_commands.h"
#include "model_commands.h"
#include "report.h"
#include "train/signals.h"
#include "train_commands.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"metacat: distributed meta-training for cold-start categories"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  auto commands = metacat::cli::add_train_commands(app);
  for (auto adder : {metacat::cli::add_data_commands, metacat::cli::add_model_commands}) {
    auto more = adder(app);
    commands.insert(commands.end(), more.begin(), more.end());
  }

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

  if (*report) {
    const std::string path = metacat::cli::write_report(report_dir, report_out, report_evals);
    std::cout << "report: " << path << std::endl;
    return 0;
  }
  for (auto& [cmd, fn] : commands)
    if (*cmd) return fn();
  return 0;
}

}  // namespace

// With several ranks, a rank that fails ends the job on every rank (no rank
// is left waiting in a collective), naming itself and its host.
int fail(int code, const std::string& message) {
  auto comm = metacat::cli::active_backend();
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
