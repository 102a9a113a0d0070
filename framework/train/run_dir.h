#pragma once
// The run directory: the one owner of a run's files (docs/ARCHITECTURE.md,
// "rank 0 coordinates").
//
//   RUN_DIR/config.yaml          the resolved config (the record of the run)
//   RUN_DIR/metrics.jsonl        one JSON object per logged step or validation
//   RUN_DIR/checkpoints/         step-NNNNNNNN.h5 files and `latest`
//   RUN_DIR/best.h5              the best validation checkpoint
//
// Contract: only the lead rank (rank 0) touches files; on other ranks every
// method is a no-op (and queries answer false/empty), so callers need no
// `if (rank == 0)`. Whole files are written through atomic_write
// (core/io.h); metrics.jsonl is appended one flushed line per record, and
// rewritten atomically when a resume cuts it back. Failures are IoErrors.
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "checkpoint/checkpoint.h"
#include "config/config.h"

namespace metacat {

class RunDirectory {
 public:
  RunDirectory(std::string dir, bool lead);
  const std::string& path() const { return dir_; }
  bool lead() const { return lead_; }
  // Whether the directory already holds step checkpoints.
  bool has_checkpoints() const;
  // Writes config.yaml; `role` (may be empty) goes above it as a comment.
  void write_config(const Config& config, const std::string& role);

  // Makes the directory continue at `step` (0 for a fresh start): keeps the
  // metrics records of steps <= step (so no step is recorded twice) and
  // sets aside step files beyond it (an abandoned timeline) as *.stale.
  // Returns the best value of validation metric `metric` among the kept
  // records (NaN when none), read in the same pass.
  double start_at(int64_t step, const std::string& metric, bool higher_better);

  // Appends one record to metrics.jsonl (flushed).
  void record(const nlohmann::json& rec);
  // Writes the step checkpoint (then `latest`, retention keep >= 1, 0 = all)
  // and returns its path (on every rank).
  std::string save_checkpoint(const Checkpoint& ck, int64_t keep);
  // Writes best.h5 (never the target of `latest`).
  void save_best(const Checkpoint& ck);

 private:
  std::string file(const std::string& name) const;
  std::string dir_;
  bool lead_;
  std::ofstream metrics_;
};

}  // namespace metacat
