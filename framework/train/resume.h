#pragma once
// Resume: which checkpoint a run continues from, and whether it may
// (docs/ARCHITECTURE.md, invariant 5: exact resume).
//
// Contract: agree_on_resume() is a collective (every rank calls it): rank 0
// alone reads the run directory and every rank gets its answer, the path to
// resume from or "" for a fresh start. check_resumable() accepts a
// checkpoint only if the next step would compute what the saved run would
// have: same config up to keys that change how, not what, is computed
// (resume_may_change), same dataset (manifest checksum), same parameter
// names, and a step within train.steps; anything else is a UserError that
// names the cause.
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "comm/backend.h"

namespace metacat {

struct Experiment;
struct TrainState;

// Keys whose change does not affect what the next step computes; a resume
// may change them (and says so). Any other change is refused.
bool resume_may_change(const std::string& key);

// resume: "none" (refuse a run directory that has checkpoints), "auto" (the
// newest valid checkpoint of run_dir, or a fresh start) or a file (which
// must verify).
std::string agree_on_resume(comm::Backend& comm, const std::string& resume,
                            const std::string& run_dir, bool occupied);

// Returns the config keys that differ but may (for the log).
std::vector<std::string> check_resumable(const Checkpoint& ck, const std::string& path,
                                         const Experiment& ex,
                                         const std::vector<std::string>& param_names);

// Loads the checkpoint at `path`, checks it (check_resumable), restores
// `state` from it, says so, and returns its step.
int64_t resume_state(const std::string& path, const Experiment& ex, TrainState& state);

}  // namespace metacat
