#pragma once
// Checkpoints: one HDF5 file per saved step, RUN_DIR/checkpoints/step-NNNNNNNN.h5,
// readable by any HDF5 tool, plus RUN_DIR/checkpoints/latest (the newest
// file's name, replaced atomically after the file is complete):
//   /params/<name>          meta-parameters (float32/float64), in order
//   /optimizer/exp_avg/<name>, /optimizer/exp_avg_sq/<name>   Adam moments
//   attributes on /: format, step, learner, optimizer_steps, world_size,
//     config (resolved YAML), config_hash, data_xxh64 (the dataset manifest's
//     checksum, 0 when none), content_xxh64 (checksum of everything above)
// Everything the next step depends on is there: the task sampler is a pure
// function of (seed, step, slot), so the step is its whole state.
// Writing: through atomic_write (core/io.h), then `latest` the same way; a
// crash at any moment leaves the previous checkpoint usable
// (docs/ARCHITECTURE.md, invariants 5 and 6).
#include <string>
#include <vector>

#include "core/params.h"

namespace metacat {

struct Checkpoint {
  int64_t step = 0;
  std::string learner;
  std::string config_yaml;
  uint64_t config_hash = 0;
  uint64_t data_checksum = 0;
  int64_t world_size = 1;
  Params params;
  int64_t optimizer_steps = 0;
  std::vector<torch::Tensor> exp_avg, exp_avg_sq;  // empty for SGD
};

std::string checkpoint_path(const std::string& run_dir, int64_t step);
// Writes the file and then (update_latest) points `latest` at it; keeps the
// newest `keep` step files (never fewer than one) and deletes older ones.
void save_checkpoint(const std::string& path, const Checkpoint& ck, int64_t keep = 0,
                     bool update_latest = true);
// Reads and verifies (content checksum); throws UserError naming the file
// when it is truncated, corrupt or not a checkpoint.
Checkpoint load_checkpoint(const std::string& path);
// Step files of a run directory, newest first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);
// The newest (highest step) checkpoint of a run directory that verifies;
// skipped broken ones are described in `warnings`. Empty when there is none.
std::string newest_valid_checkpoint(const std::string& run_dir, std::vector<std::string>* warnings);
// The newest checkpoint of a run directory; throws UserError if none.
std::string newest_checkpoint(const std::string& run_dir);
// A path that is a checkpoint file, or a run directory (its newest valid one).
std::string resolve_checkpoint(const std::string& file_or_run_dir);

}  // namespace metacat
