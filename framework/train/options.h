#pragma once
// Typed run options: the config (config/config.h, string-keyed, the file
// format) is read once, here, into one struct per concern, and validated
// as it is read. Nothing below the command layer reads a Config key by
// string; the training loop sees only these structs.
//
// Contract: read_options() either returns options that can run together as
// far as the config alone can tell (what needs the data, e.g. whether a
// split has enough items, is checked by the experiment), or throws one
// UserError naming the key and where its value came from.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "datasets/synthetic_catalogue.h"
#include "episodes/augment.h"
#include "episodes/task_source.h"
#include "learners/learner.h"
#include "learners/metaemb.h"

namespace metacat {

struct DataOptions {
  std::string source = "fashion-mnist";  // shards | fashion-mnist | sinusoid | synthetic
  std::string path;
  int64_t cache_bytes = 0;
  int64_t prefetch_workers = -1;  // -1: one prefetch thread when a core is left free
  int64_t prefetch_depth = 8;
  std::vector<std::vector<int64_t>> classes;  // fashion-mnist: train, val, test class lists
  int64_t sinusoid_tasks = 0;
  ClassAugment class_augment = ClassAugment::kNone;  // classification sources
  ValAugment val_augment = ValAugment::kNone;
  ItemAugment item_augment = ItemAugment::kNone;  // meta-training image items
  int64_t item_shift = 2;
  double id_dropout = 0;  // meta-training rows of schema data: item id read as OOV
  SyntheticSpec synthetic;
  uint64_t seed = 0;  // seeds generated data (sinusoid, synthetic)
  int64_t ways = 2;   // classification sources build their tasks from `ways` classes
  torch::Dtype dtype = torch::kFloat32;
};

struct TrainOptions {
  uint64_t seed = 0;
  int64_t steps = 0;
  int64_t meta_batch = 1;  // B: task slots per meta-step, over all ranks
  int64_t partitions = 0;  // P
  EpisodeSpec episode;     // meta-training episodes (task.*)
  OptimizerSpec optimizer;
  double grad_clip = 0;  // 0: off
  int64_t log_every = 1;
  int64_t checkpoint_every = 0;   // steps; 0: off
  double checkpoint_minutes = 0;  // 0: off
  int64_t keep_checkpoints = 0;   // 0: keep all
  double lock_wait_s = 30;        // RunLock: wait for a live owner of the run directory
  std::vector<std::string> signals;
};

struct EvalOptions {
  bool at_end = true;
  Split split = Split::kTest;
  std::vector<int64_t> shots;
  int64_t queries = 15;
  int64_t episodes = 600;
  uint64_t seed = 0;
  bool warm = false;
  std::string episodes_file;
  std::vector<std::string> baselines;  // finetune, scratch
  // Other learners meta-trained on the same data (eval.learners) and
  // evaluated next to this one on the same episodes.
  std::vector<std::string> learners;
  // Validation during training (0: off) on fixed episodes of the val split.
  int64_t val_every = 0;
  int64_t val_episodes = 0;
  int64_t val_shots = 1;    // resolved: task.shots when the config says 0
  std::string best_metric;  // empty: the task kind's primary metric
};

struct CommOptions {
  std::string backend = "auto";
  int64_t bucket_bytes = 0;
  double timeout_s = 0;  // 0: no watchdog
  bool arrivals = true;  // comm.arrivals: rank 0 records who reached each step
  double silence_s = 0;  // comm.silence_s: rank 0 names ranks not heard for this long
  int64_t check_every = 0;
  // comm.reduction: exact: meta-gradients summed in fixed point
  // (core/exact_sum.h), one task at a time on one thread each: the same
  // bits on any world size.
  bool exact = false;
  // comm.sparse_embeddings: embedding tables computed, exchanged and
  // updated by the rows a step touches (train/sparse_tables.h).
  bool sparse_embeddings = false;
};

// Test-only fault injection (debug.*): none unless a rank and a step are set.
struct FaultOptions {
  enum class Mode { kThrow, kHang, kDiverge, kSignal };
  int64_t rank = -1;
  int64_t step = -1;
  Mode mode = Mode::kThrow;
  bool armed() const { return rank >= 0 && step >= 0; }
};

// The finetune baseline's joint pre-training (baselines.finetune.*; its
// support-set fine-tuning and the scratch baseline are LearnerOptions).
struct FinetunePretraining {
  int64_t steps = 0;
  double id_dropout = -1;  // the pre-training's data.id_dropout; -1: the run's
};

struct RunOptions {
  int64_t threads = 0;          // 0: cores / ranks on the node
  std::string device = "auto";  // auto | cpu | cuda (core/device.h)
  DataOptions data;
  ModelSpec model;  // input shape and outputs are filled in from the data
  LearnerOptions learner;
  TrainOptions train;
  EvalOptions eval;
  CommOptions comm;
  FaultOptions faults;
  FinetunePretraining finetune;
  MetaEmbOptions metaemb;  // baselines.metaemb.*
};

RunOptions read_options(const Config& config);

// The options of the finetune baseline's joint pre-training for a run with
// options `run`: learner finetune (no descriptor start), Adam, for
// baselines.finetune.pretrain_steps steps; everything else as the run.
RunOptions finetune_pretraining(const RunOptions& run);
// The record (what config.yaml and its checkpoints carry) of that
// pre-training: the run's config with the keys finetune_pretraining()
// changes set to its values, so the record describes what ran and
// read_options(record) gives the pre-training's options back (tested).
Config finetune_record(const Config& run, const RunOptions& pretraining);

// The record of a learner compared with the run (eval.learners): the run's
// config with learner.name set to `name`, no descriptor start or MAML++
// options where that learner has none, train.steps from
// eval.learners_steps when set, and no evaluation or comparison of its own.
Config compared_learner_record(const Config& run, const std::string& name);

// The communication options alone: the backend is started before the rest
// of the options are read, so that their errors end every rank together.
CommOptions read_comm_options(const Config& config);

// The name results carry: the learner, marked when it starts from descriptors.
std::string method_label(const LearnerOptions& learner);

}  // namespace metacat
