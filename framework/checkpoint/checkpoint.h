#pragma once
// Checkpoints: one HDF5 file per saved step, RUN_DIR/checkpoints/step-NNNNNNNN.h5,
// readable by any HDF5 tool:
//   /params/<name>          meta-parameters (float32/float64), in order
//   /optimizer/exp_avg/<name>, /optimizer/exp_avg_sq/<name>   Adam moments
//   attributes on /: format, step, learner, optimizer_steps, config (YAML),
//                    config_hash
// Written to a temporary name, fsynced, renamed, directory fsynced: a crash
// leaves either the previous file set or the new one, never half a file.
#include <string>
#include <vector>

#include "core/params.h"

namespace metacat {

struct Checkpoint {
  int64_t step = 0;
  std::string learner;
  std::string config_yaml;
  uint64_t config_hash = 0;
  Params params;
  int64_t optimizer_steps = 0;
  std::vector<torch::Tensor> exp_avg, exp_avg_sq;  // empty for SGD
};

std::string checkpoint_path(const std::string& run_dir, int64_t step);
void save_checkpoint(const std::string& path, const Checkpoint& ck);
Checkpoint load_checkpoint(const std::string& path);
// The newest checkpoint of a run directory; throws UserError if none.
std::string newest_checkpoint(const std::string& run_dir);
// A path that is a checkpoint file, or a run directory (its newest one).
std::string resolve_checkpoint(const std::string& file_or_run_dir);

}  // namespace metacat
