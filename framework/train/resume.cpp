#include "train/resume.h"

#include "core/error.h"
#include "core/log.h"
#include "train/experiment.h"
#include "train/state.h"

namespace metacat {

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
}  // namespace

bool resume_may_change(const std::string& key) {
  for (const char* prefix :
       {"train.steps", "train.log_every", "train.checkpoint_", "train.keep_", "train.signals",
        "train.lock_wait_s", "threads", "device", "comm.", "eval.", "baselines.", "debug.",
        "data.path", "data.cache_mb", "data.prefetch_",
        // how, not what, is computed (rounding may differ, as with threads)
        "learner.inner_loop", "learner.recompute", "learner.task_parallel"})
    if (key.rfind(prefix, 0) == 0) return true;
  return false;
}

std::string agree_on_resume(comm::Backend& comm, const std::string& resume,
                            const std::string& run_dir, bool occupied) {
  // Rank 0 owns the run directory; every rank learns its verdict.
  if (comm.any(occupied && resume == "none"))
    throw UserError("run directory '" + run_dir +
                    "' already holds checkpoints; resume it with --resume auto, or use another "
                    "--run-dir");
  std::string path;
  if (comm.rank() == 0) {
    if (resume == "auto") {
      std::vector<std::string> warnings;
      path = newest_valid_checkpoint(run_dir, &warnings);
      for (const auto& w : warnings) log_warn() << w << "; falling back to an older checkpoint";
    } else if (resume != "none") {
      path = resume;
      load_checkpoint(path);  // a named file must be valid: no fallback
    }
  }
  int64_t n = static_cast<int64_t>(path.size());
  comm.broadcast(&n, sizeof n, 0);
  path.resize(n);
  comm.broadcast(path.data(), n, 0);
  return path;
}

std::vector<std::string> check_resumable(const Checkpoint& ck, const std::string& path,
                                         const Experiment& ex,
                                         const std::vector<std::string>& param_names) {
  if (!ck.learner.empty() && ck.learner != ex.learner->name())
    throw UserError("cannot resume from '" + path + "': it holds a '" + ck.learner +
                    "' learner, this run trains " + ex.learner->name());
  const Config saved = Config::from_yaml(ck.config_yaml, path);
  std::vector<std::string> refused, allowed;
  for (const auto& k : Config::diff(saved, ex.config))
    (resume_may_change(k) ? allowed : refused).push_back(k);
  // train.steps sets the cosine horizon and the multi-step loss's default
  // annealing: changing it would change the steps already taken's schedule.
  if (saved.get_int("train.steps") != ex.config.get_int("train.steps")) {
    if (ex.options.train.optimizer.schedule == "cosine")
      refused.push_back("train.steps (with train.lr_schedule: cosine)");
    if (ex.options.learner.multi_step_loss && ex.config.get_int("learner.multi_step_anneal") == 0)
      refused.push_back("train.steps (sets learner.multi_step_anneal when it is 0)");
  }
  if (!refused.empty())
    throw UserError("cannot resume from '" + path +
                    "': the config changes what the run "
                    "computes (" +
                    join(refused) + "); start a new --run-dir instead");
  if (ck.data_checksum != 0 && ex.source->data_checksum() != 0 &&
      ck.data_checksum != ex.source->data_checksum())
    throw UserError("cannot resume from '" + path +
                    "': the dataset differs from the one "
                    "the run was trained on (manifest checksum)");
  if (ck.params.names != param_names)
    throw UserError("cannot resume from '" + path + "': its parameters do not match the model");
  if (ck.step > ex.options.train.steps)
    throw UserError("cannot resume: the checkpoint is at step " + std::to_string(ck.step) +
                    ", beyond train.steps = " + std::to_string(ex.options.train.steps));
  return allowed;
}

int64_t resume_state(const std::string& path, const Experiment& ex, TrainState& state) {
  const Checkpoint ck = load_checkpoint(path);
  const auto allowed = check_resumable(ck, path, ex, state.theta.names);
  state.restore(ck);
  if (!allowed.empty()) log_info() << "resume: config changes allowed on resume: " << join(allowed);
  log_info() << "resume: from " << path << " (step " << ck.step << ", saved by " << ck.world_size
             << " rank" << (ck.world_size > 1 ? "s" : "") << ")";
  return ck.step;
}

}  // namespace metacat
