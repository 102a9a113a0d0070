#pragma once
// Stop requests from signals (preemption, time limits, Ctrl-C).
//
// The handlers only set a flag; the training loop turns it into a shared
// decision at the next step boundary (checkpoint, then exit with
// kExitResume). SIGINT from an interactive terminal does the same once; a
// second Ctrl-C exits at once (code 130).
#include <string>
#include <vector>

#include "core/error.h"  // kExitResume

namespace metacat {

// names: SIGUSR1, SIGUSR2, SIGTERM, SIGINT. Throws UserError on others.
void install_stop_signals(const std::vector<std::string>& names);
bool stop_requested();
int stop_signal();  // the signal that asked, 0 if none
void clear_stop_request();

// Thrown on every rank once the checkpoint is written; main() exits with
// kExitResume.
struct Preempted {
  int64_t step;
  std::string checkpoint;
};

}  // namespace metacat
