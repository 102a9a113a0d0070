#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "config/learners.h"
#include "core/error.h"
#include "core/rng.h"

namespace metacat {

namespace {

enum class Type { kInt, kFloat, kBool, kString, kInts, kFloats, kStrings };

struct Key {
  const char* path;
  Type type;
  const char* def;  // YAML text
  double min = -INFINITY, max = INFINITY;
  std::vector<std::string> choices = {};
  const char* help = "";
};

constexpr double kInf = INFINITY;

// The schema. Keep in sync with docs: `metacat train --help-config` prints it.
// One key per line: the table reads as a table.
// clang-format off
const std::vector<Key>& schema() {
  static const std::vector<Key> keys = {
      {"seed", Type::kInt, "0", 0, 9.0e18, {}, "seed of tasks, items and initial parameters"},
      {"threads", Type::kInt, "0", 0, 1024, {}, "intra-op threads (LibTorch and OpenBLAS); 0 = cores / ranks"},
      {"device", Type::kString, "auto", -kInf, kInf, {"auto", "cpu", "cuda"},
       "where training tensors live: auto = cuda when a GPU is visible (one per rank, by local rank), else cpu"},
      {"data.source", Type::kString, "shards", -kInf, kInf, {"shards", "fashion-mnist", "sinusoid", "synthetic"},
       "task family: shards (a packed HDF5 dataset; its manifest says classification or preference), "
       "fashion-mnist (idx files read directly), sinusoid (regression), synthetic (in-memory catalogue)"},
      {"data.path", Type::kString, "data/fashion-mnist", -kInf, kInf, {},
       "shards: the packed dataset folder; fashion-mnist: the folder of the idx files"},
      {"data.cache_mb", Type::kInt, "1024", 0, 1e7, {}, "shards: memory budget of the category cache (MiB)"},
      {"data.prefetch_workers", Type::kInt, "-1", -1, 64, {},
       "threads preparing episodes ahead of training; 0 = inline; -1 = one when a core is left "
       "free by the compute threads, else inline"},
      {"data.prefetch_depth", Type::kInt, "32", 1, 1e6, {}, "episodes prepared ahead at most"},
      {"data.train_classes", Type::kInts, "[0, 1, 2, 3, 4, 5]", 0, 9, {}, "fashion-mnist: meta-training classes"},
      {"data.val_classes", Type::kInts, "[]", 0, 9, {}, "fashion-mnist: validation classes"},
      {"data.test_classes", Type::kInts, "[6, 7, 8, 9]", 0, 9, {}, "fashion-mnist: cold-start test classes"},
      {"data.class_augment", Type::kString, "none", -kInf, kInf, {"none", "rotations", "dihedral"}, "image classification: each training class also as its rotations by 90/180/270 degrees (rotations, x4), and mirror images (dihedral, x8), as new classes; val/test classes unchanged"},
      {"data.val_augment", Type::kString, "none", -kInf, kInf, {"none", "transformed", "heldout"},
       "validation classes with data.class_augment: transformed = val categories also as their rotations/mirrors (a held-out category gives 4-8 val classes); heldout = the last transform of each training class validates instead of training"},
      {"data.item_augment", Type::kString, "none", -kInf, kInf, {"none", "flip", "shift", "flip+shift"},
       "image classification: meta-training items randomly mirrored left-right and/or shifted by up to data.item_shift pixels"},
      {"data.item_shift", Type::kInt, "2", 0, 1000, {}, "largest shift (pixels) of data.item_augment: shift"},
      {"data.id_dropout", Type::kFloat, "0", 0, 1, {},
       "tabular data packed with a schema: in meta-training episodes (and the finetune baseline's joint pre-training), each row's item id is read as out-of-vocabulary with this probability, so that the model leans less on id rows and also learns to score an item from its other columns (DropoutNet), as it must for items no training task shows (whose own rows are untrained or learned from click histories only); evaluation episodes are never changed; 0: off"},
      {"data.sinusoid_tasks", Type::kInt, "1000000", 1, 1e12, {}, "sinusoid: distinct tasks per split"},
      {"data.synthetic.categories", Type::kInt, "300", 3, 1e7, {}, "synthetic: number of categories"},
      {"data.synthetic.departments", Type::kInt, "8", 1, 1e5, {}, "synthetic: number of department prototypes"},
      {"data.synthetic.feature_dim", Type::kInt, "16", 1, 4096, {}, "synthetic: item feature dimension"},
      {"data.synthetic.descriptor_dim", Type::kInt, "8", 0, 4096, {}, "synthetic: category descriptor dimension"},
      {"data.synthetic.min_items", Type::kInt, "60", 2, 1e7, {}, "synthetic: smallest category"},
      {"data.synthetic.max_items", Type::kInt, "600", 2, 1e7, {}, "synthetic: largest category (power-law sizes)"},
      {"data.synthetic.spread", Type::kFloat, "0.5", 0, 100, {}, "synthetic: category spread around its department"},
      {"data.synthetic.val_fraction", Type::kFloat, "0.1", 0, 0.9, {}, "synthetic: share of validation categories"},
      {"data.synthetic.test_fraction", Type::kFloat, "0.2", 0, 0.9, {}, "synthetic: share of test (cold-start) categories"},
      {"data.synthetic.label_noise", Type::kFloat, "1.0", 0, 1e6, {}, "synthetic: temperature of the click model, labels ~ Bernoulli(sigmoid(z / label_noise)); 0 = deterministic labels [z > 0]"},
      {"task.ways", Type::kInt, "3", 2, 1000, {}, "classification: classes per episode"},
      {"task.shots", Type::kInt, "1", 1, 1e6, {}, "labelled support items per class (per task for regression/preference)"},
      {"task.queries", Type::kInt, "15", 1, 1e6, {}, "query items per class (per task for regression/preference)"},
      {"model.name", Type::kString, "conv4", -kInf, kInf, {"conv4", "mlp", "preference", "embedding"},
       "functional model (embedding: tabular data packed with a schema)"},
      {"model.embedding_dim", Type::kInt, "16", 1, 4096, {}, "embedding: width of every embedding table"},
      {"model.pooling", Type::kString, "mean", -kInf, kInf, {"mean", "sum"},
       "embedding: how a multi-valued cell's codes are pooled"},
      {"model.sequence", Type::kString, "gru", -kInf, kInf, {"gru", "mean"},
       "embedding: a sequence column's encoder (gru: its state after the last code; mean: pooled)"},
      {"model.gru_hidden", Type::kInt, "32", 1, 4096, {}, "embedding: the GRU's state size"},
      {"model.context", Type::kInt, "0", 0, 4096, {},
       "embedding: entries of a task context (ctx.vector, from zero) scoring each row through a learned projection of its inputs, one more feature; 0 = none"},
      {"model.skip", Type::kStrings, "[]", -kInf, kInf, {},
       "embedding: columns of the data the model does not read (no input, and no table unless a read column shares it); they stay in the data for baselines.metaemb.attributes, e.g. an id-heavy model whose items are their ids"},
      {"model.context_rows", Type::kString, "none", -kInf, kInf, {"none", "mean"},
       "embedding: mean = the task context also reads the rows it scores: ctx.vector + ctx.set (mean of the inputs of the rows of one call: one task's support rows, its query rows, or both as fine-tuning's joint pre-training takes them; never their labels), so a task starts from what the set of its rows says (which items a new user is shown, which users a new category is shown to); needs model.context; none = ctx.vector alone"},
      {"model.interactions", Type::kString, "none", -kInf, kInf, {"none", "dot"},
       "embedding: dot = also the pairwise dot products of the embedded columns of width model.embedding_dim (a GRU state too when model.gru_hidden equals it), as factorization machines and DLRM do; none = none"},
      {"model.width", Type::kInt, "64", 1, 4096, {}, "conv4: channels per block"},
      {"model.hidden", Type::kInts, "[40, 40]", 1, 1e6, {}, "mlp/preference: hidden layer sizes"},
      {"model.init", Type::kString, "pytorch", -kInf, kInf, {"pytorch", "glorot"},
       "initialisation: pytorch = nn.Linear/nn.Conv2d defaults; glorot = Glorot-uniform weights, zero biases (the MAML papers' Conv-4)"},
      {"model.dtype", Type::kString, "float32", -kInf, kInf, {"float32", "float64"}, "parameter dtype"},
      {"learner.name", Type::kString, "maml", -kInf, kInf,
       learner_names(),
       "meta-learner (finetune = joint pre-training baseline)"},
      {"learner.inner_lr", Type::kFloat, "0.4", 0, 1e3, {}, "inner-loop SGD step size (Meta-SGD: initial rates)"},
      {"learner.inner_steps", Type::kInt, "1", 0, 1000, {}, "inner-loop steps during meta-training"},
      {"learner.eval_inner_steps", Type::kInt, "0", 0, 1000, {}, "inner-loop steps at evaluation; 0 = inner_steps"},
      {"learner.inner_embeddings", Type::kBool, "false", -kInf, kInf, {},
       "embedding models: the inner loop (maml, fomaml, anil, metasgd) also adapts the embedding "
       "tables and sequence encoders (default: the dense layers only, as MeLU; reptile adapts all)"},
      {"learner.inner_params", Type::kString, "dense", -kInf, kInf, {"dense", "context"},
       "maml/fomaml/metasgd: what the inner loop adapts: dense = the dense layers and the task context (the tables too with inner_embeddings); context = the task context alone (model.context; CAVIA)"},
      {"learner.inner_loss", Type::kString, "mean", -kInf, kInf, {"mean", "sum"},
       "gradient learners: the inner loop's support loss, mean or sum over the support items (sum: steps grow with the support set)"},
      {"learner.first_order", Type::kBool, "false", -kInf, kInf, {}, "anil/metasgd/protomaml: do not differentiate through the inner loop"},
      {"learner.per_step_rates", Type::kBool, "false", -kInf, kInf, {},
       "MAML++: learn an inner rate per adapted tensor and inner step (lslr.*; evaluation steps past inner_steps reuse the last)"},
      {"learner.per_step_bn", Type::kBool, "false", -kInf, kInf, {},
       "MAML++: batch-norm scales/shifts of their own after each inner step (stepbn.*), meta-learned, not adapted"},
      {"learner.multi_step_loss", Type::kBool, "false", -kInf, kInf, {},
       "MAML++: the meta-loss weighs the query loss after every inner step, annealed towards the last step"},
      {"learner.multi_step_anneal", Type::kInt, "0", 0, 1e12, {},
       "meta-steps over which the multi-step loss anneals to the last step; 0 = a tenth of train.steps"},
      {"learner.inner_loop", Type::kString, "auto", -kInf, kInf, {"auto", "batched", "per_task"},
       "batched: a rank's tasks of a meta-step adapt as one task-batched computation; auto = batched for mlp/preference, per_task for conv4 (measured faster)"},
      {"learner.descriptor_init", Type::kBool, "false", -kInf, kInf, {},
       "maml/fomaml/anil/metasgd: meta-learn a network from the category descriptor to the head's start (zero-shot capable)"},
      {"learner.descriptor_hidden", Type::kInts, "[32]", 1, 1e6, {}, "descriptor network hidden layer sizes"},
      {"learner.task_parallel", Type::kBool, "true", -kInf, kInf, {},
       "per-task inner loops of a rank's tasks run concurrently, one per thread (else one at a time, ops split over threads)"},
      {"learner.embedding_norm", Type::kString, "none", -kInf, kInf, {"none", "l2", "centered_l2"},
       "protonet: embeddings rescaled to norm sqrt(dim) before the distances (l2), after subtracting the episode's mean embedding (centered_l2)"},
      {"learner.recompute", Type::kBool, "false", -kInf, kInf, {}, "second-order learners: recompute inner steps in the backward pass (activation memory flat in inner_steps; keeps the k inner iterates)"},
      {"train.steps", Type::kInt, "1000", 0, 1e12, {}, "meta-steps"},
      {"train.meta_batch", Type::kInt, "4", 1, 1e6, {}, "tasks per meta-step (all ranks together)"},
      {"train.partitions", Type::kInt, "0", 0, 1e9, {}, "fixed partitions of the task sources; 0 = min(sources, 240)"},
      {"train.optimizer", Type::kString, "adam", -kInf, kInf, {"adam", "sgd"}, "outer optimiser"},
      {"train.outer_lr", Type::kFloat, "0.001", 0, 1e3, {}, "outer learning rate (Reptile: epsilon)"},
      {"train.lr_schedule", Type::kString, "constant", -kInf, kInf, {"constant", "cosine"},
       "outer rate over training: constant, or cosine annealing from train.outer_lr to train.min_lr at train.steps"},
      {"train.min_lr", Type::kFloat, "0", 0, 1e3, {}, "cosine schedule: the outer rate at the last step"},
      {"train.beta1", Type::kFloat, "0.9", 0, 0.999999, {}, "Adam beta1"},
      {"train.beta2", Type::kFloat, "0.999", 0, 0.999999999, {}, "Adam beta2"},
      {"train.grad_clip", Type::kFloat, "0", 0, 1e12, {}, "clip the meta-gradient's global L2 norm; 0 = off"},
      {"train.log_every", Type::kInt, "50", 1, 1e9, {}, "steps between log lines and metrics.jsonl records"},
      {"train.checkpoint_every", Type::kInt, "0", 0, 1e12, {}, "steps between checkpoints; 0 = only at the end"},
      {"train.checkpoint_minutes", Type::kFloat, "0", 0, 1e9, {}, "minutes between checkpoints (rank 0's clock); 0 = off"},
      {"train.lock_wait_s", Type::kFloat, "30", 0, 1e6, {},
       "seconds to wait for another live `metacat train` that owns the run directory (a killed job's ranks live on briefly) before refusing"},
      {"train.keep_checkpoints", Type::kInt, "3", 1, 1e9, {}, "newest step checkpoints kept (older ones deleted)"},
      {"train.signals", Type::kStrings, "[SIGUSR1, SIGTERM]", -kInf, kInf, {"SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT"},
       "signals that mean: checkpoint at the next step boundary, then exit 75 (resume me)"},
      {"comm.backend", Type::kString, "auto", -kInf, kInf, {"auto", "mpi", "nccl", "local"},
       "collectives: auto = nccl with GPUs, else mpi under mpirun/srun, else local"},
      {"comm.bucket_mb", Type::kFloat, "64", 0.001, 1e6, {}, "all-reduce the meta-gradient in buckets of at most this many MiB"},
      {"comm.timeout_s", Type::kFloat, "600", 0, 1e9, {}, "watchdog: abort the job when one meta-step takes longer; 0 = off"},
      {"comm.reduction", Type::kString, "float", -kInf, kInf, {"float", "exact"},
       "meta-gradient sum: float (fastest; bits depend on how tasks are spread over ranks) or exact "
       "(fixed point, one task per thread, never task-batched: the same bits on any world size and "
       "thread count; CPU only)"},
      {"comm.arrivals", Type::kBool, "true", -kInf, kInf, {},
       "rank 0 checks that every rank reached each step before its all-reduce, so that a watchdog "
       "timeout names the ranks and hosts that never arrived (other ranks' watchdogs wait 5 s longer)"},
      {"comm.silence_s", Type::kFloat, "10", 0, 1e9, {},
       "rank 0 prints a line naming any rank (and host) not heard from for this long (heartbeats "
       "over UDP every 0.5 s): a host cut off or a process stopped; 0 = off"},
      {"comm.sparse_embeddings", Type::kBool, "false", -kInf, kInf, {},
       "embedding models: compute with, exchange (one allgather of row ids and rows) and update "
       "(lazily: untouched rows and their Adam moments stay) only the table rows a meta-step "
       "touches; traffic proportional to those rows, not to the table size"},
      {"comm.check_every", Type::kInt, "100", 0, 1e12, {}, "steps between cross-rank parameter checksum checks; 0 = off"},
      {"debug.fail_rank", Type::kInt, "-1", -1, 1e6, {}, "test only: this rank throws at debug.fail_at_step"},
      {"debug.fail_at_step", Type::kInt, "-1", -1, 1e12, {}, "test only: the step at which debug.fail_rank fails"},
      {"debug.fail_mode", Type::kString, "throw", -kInf, kInf, {"throw", "hang", "diverge", "signal"},
       "test only: how debug.fail_rank fails: throw, hang (for the watchdog), or diverge "
       "(perturb its parameters, for the cross-rank check), or signal (raise SIGTERM)"},
      {"eval.at_end", Type::kBool, "true", -kInf, kInf, {}, "evaluate on the test split when training ends"},
      {"eval.split", Type::kString, "test", -kInf, kInf, {"train", "val", "test"}, "split evaluated"},
      {"eval.episodes", Type::kInt, "600", 1, 1e9, {}, "fixed evaluation episodes per shot setting"},
      {"eval.shots", Type::kInts, "[1, 5]", 0, 1e6, {}, "shot settings evaluated (0 = zero-shot: preference tasks only)"},
      {"eval.warm", Type::kBool, "false", -kInf, kInf, {},
       "also evaluate on categories seen in meta-training (train split: warm) next to eval.split (cold)"},
      {"eval.queries", Type::kInt, "15", 1, 1e6, {}, "query items per class (per task) at evaluation"},
      {"eval.seed", Type::kInt, "20260101", 0, 9.0e18, {}, "seed of the evaluation episodes (same seed, same episodes)"},
      {"eval.val_every", Type::kInt, "0", 0, 1e12, {}, "steps between validations on the val split; 0 = off"},
      {"eval.val_episodes", Type::kInt, "100", 1, 1e9, {}, "fixed validation episodes"},
      {"eval.val_shots", Type::kInt, "0", 0, 1e6, {}, "shots of validation episodes; 0 = task.shots"},
      {"eval.best_metric", Type::kString, "", -kInf, kInf, {},
       "validation metric that selects RUN_DIR/best.h5 (accuracy, auc, mse, loss, ...); empty = the task's primary metric"},
      {"eval.episodes_file", Type::kString, "", -kInf, kInf, {},
       "fixed episodes from `metacat episodes` (overrides eval.episodes/shots/queries/seed)"},
      {"eval.learners", Type::kStrings, "[]", -kInf, kInf, learner_names(),
       "other learners meta-trained on the same data (RUN_DIR/learners/<name>) and evaluated next to this one"},
      {"eval.learners_steps", Type::kInt, "0", 0, 1e12, {},
       "meta-steps of the eval.learners runs; 0 = train.steps"},
      {"eval.baselines", Type::kStrings, "[]", -kInf, kInf, {"finetune", "scratch", "oracle", "metaemb"}, "baselines evaluated next to the learner (oracle: the true model's scores, synthetic catalogues only; metaemb: the learner with new items' id embeddings generated from their attributes)"},
      {"baselines.finetune.pretrain_steps", Type::kInt, "500", 0, 1e12, {}, "joint pre-training steps"},
      {"baselines.finetune.id_dropout", Type::kFloat, "-1", -1, 1, {},
       "data.id_dropout of the joint pre-training, tuned apart from the learner's; -1: the run's data.id_dropout"},
      {"baselines.finetune.lr", Type::kFloat, "0.01", 0, 1e3, {}, "fine-tuning Adam step size on the support set"},
      {"baselines.finetune.steps", Type::kInt, "50", 0, 1e6, {}, "fine-tuning steps on the support set"},
      {"baselines.finetune.head_only", Type::kBool, "true", -kInf, kInf, {}, "fine-tune the new head only (body frozen)"},
      {"baselines.scratch.lr", Type::kFloat, "0.01", 0, 1e3, {}, "from-scratch Adam step size on the support set"},
      {"baselines.scratch.steps", Type::kInt, "50", 0, 1e6, {}, "from-scratch training steps on the support set"},
      {"baselines.metaemb.attributes", Type::kStrings, "[]", -kInf, kInf, {}, "the item's attribute columns the id-embedding generator reads (e.g. [brand, shop, tags, log_price])"},
      {"baselines.metaemb.steps", Type::kInt, "1000", 1, 1e9, {}, "generator training steps (the model frozen at the trained parameters)"},
      {"baselines.metaemb.items", Type::kInt, "32", 1, 1e6, {}, "training items per generator step"},
      {"baselines.metaemb.rows", Type::kInt, "4", 1, 1e6, {}, "impressions of each item per phase (cold phase, warm-up phase)"},
      {"baselines.metaemb.lr", Type::kFloat, "0.001", 0, 1e3, {}, "generator Adam step size"},
      {"baselines.metaemb.warmup_lr", Type::kFloat, "0.1", 0, 1e3, {}, "the warm-up phase's gradient step on the generated embedding"},
      {"baselines.metaemb.cold_weight", Type::kFloat, "0.5", 0, 1, {}, "weight of the cold-phase loss (the warm-up phase's is 1 - cold_weight)"},
      {"baselines.metaemb.hidden", Type::kInt, "32", 1, 1e6, {}, "generator hidden units"},
      {"baselines.metaemb.replace", Type::kString, "untouched", -kInf, kInf, {"untouched", "unshown"}, "the rows replaced: items no training row shows or names (untouched), or every item no training row shows as its item, also those only named in click histories (unshown)"},
      {"baselines.metaemb.rows_as", Type::kString, "generated", -kInf, kInf, {"generated", "shuffled", "mean", "zero", "warm_mean", "random"}, "what the replaced rows become: the generator's rows (generated), or an ablation that tells what they carry: the generated rows permuted among the new items (shuffled), their mean (mean), zeros (zero), the mean of the training items' trained rows (warm_mean), fresh N(0, 0.1^2) rows like an untrained row, drawn from the training seed (random); zero, warm_mean and random train no generator"},
  };
  return keys;
}
// clang-format on

const Key* find_key(const std::string& path) {
  for (const auto& k : schema())
    if (path == k.path) return &k;
  return nullptr;
}

bool is_section(const std::string& path) {
  for (const auto& k : schema())
    if (std::string(k.path).rfind(path + ".", 0) == 0) return true;
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> d(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = d[0];
    d[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cur = d[j];
      d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return d[b.size()];
}

std::string suggestion(const std::string& path) {
  const Key* best = nullptr;
  size_t best_d = 4;
  for (const auto& k : schema()) {
    size_t d = edit_distance(path, k.path);
    if (d < best_d) best_d = d, best = &k;
  }
  return best ? std::string(" (did you mean '") + best->path + "'?)" : std::string();
}

bool parse_int(const std::string& s, int64_t& out) {
  try {
    size_t pos;
    out = std::stoll(s, &pos);
    return pos == s.size();
  } catch (...) {
    return false;
  }
}

bool parse_float(const std::string& s, double& out) {
  try {
    size_t pos;
    out = std::stod(s, &pos);
    return pos == s.size() && std::isfinite(out);
  } catch (...) {
    return false;
  }
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "yes" || s == "on") return out = true, true;
  if (s == "false" || s == "no" || s == "off") return out = false, true;
  return false;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kInt:
      return "an integer";
    case Type::kFloat:
      return "a number";
    case Type::kBool:
      return "true or false";
    case Type::kString:
      return "a string";
    case Type::kInts:
      return "a list of integers";
    case Type::kFloats:
      return "a list of numbers";
    case Type::kStrings:
      return "a list of strings";
  }
  return "?";
}

bool is_list(Type t) { return t == Type::kInts || t == Type::kFloats || t == Type::kStrings; }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// Checks one item against the key's type, range and choices.
void check_item(const Key& k, const std::string& item, const std::string& where) {
  auto fail = [&](const std::string& why) {
    throw UserError("config: " + std::string(k.path) + " (" + where + "): " + why);
  };
  double num = 0;
  switch (k.type) {
    case Type::kInt:
    case Type::kInts: {
      int64_t v;
      if (!parse_int(item, v)) fail("'" + item + "' is not " + type_name(k.type));
      num = static_cast<double>(v);
      break;
    }
    case Type::kFloat:
    case Type::kFloats:
      if (!parse_float(item, num)) fail("'" + item + "' is not " + type_name(k.type));
      break;
    case Type::kBool: {
      bool b;
      if (!parse_bool(item, b)) fail("'" + item + "' is not true or false");
      return;
    }
    case Type::kString:
    case Type::kStrings:
      if (!k.choices.empty() &&
          std::find(k.choices.begin(), k.choices.end(), item) == k.choices.end())
        fail("'" + item + "' is not one of: " + join(k.choices, ", "));
      return;
  }
  if (num < k.min || num > k.max) {
    std::ostringstream os;
    os << item << " is out of range [" << k.min << ", " << k.max << "]";
    fail(os.str());
  }
}

Config::Value value_from_node(const Key& k, const YAML::Node& node, const std::string& where) {
  Config::Value v;
  v.origin = where;
  if (is_list(k.type)) {
    if (!node.IsSequence())
      throw UserError("config: " + std::string(k.path) + " (" + where + "): expected " +
                      type_name(k.type) + ", e.g. [1, 2]");
    for (const auto& item : node) {
      if (!item.IsScalar())
        throw UserError("config: " + std::string(k.path) + " (" + where +
                        "): list items must be scalars");
      v.items.push_back(item.Scalar());
    }
  } else if (node.IsNull() && k.type == Type::kString) {
    v.items.push_back("");  // `key:` with no value, or the empty default
  } else {
    if (!node.IsScalar())
      throw UserError("config: " + std::string(k.path) + " (" + where + "): expected " +
                      type_name(k.type));
    v.items.push_back(node.Scalar());
  }
  for (const auto& item : v.items) check_item(k, item, where);
  return v;
}

void walk(const YAML::Node& node, const std::string& prefix, const std::string& origin,
          const std::function<void(const Key&, const YAML::Node&, const std::string&)>& leaf) {
  for (const auto& kv : node) {
    const std::string name = kv.first.Scalar();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const std::string where = origin + ":" + std::to_string(kv.first.Mark().line + 1);
    if (const Key* k = find_key(path)) {
      leaf(*k, kv.second, where);
    } else if (is_section(path)) {
      if (!kv.second.IsMap())
        throw UserError("config: " + path + " (" + where + "): is a section, expected a mapping");
      walk(kv.second, path, origin, leaf);
    } else {
      throw UserError("config: unknown key '" + path + "' (" + where + ")" + suggestion(path));
    }
  }
}

}  // namespace

Config::Config() {
  for (const auto& k : schema()) {
    YAML::Node n = YAML::Load(k.def);
    values_[k.path] = value_from_node(k, n, "default");
  }
}

Config Config::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("config: cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_yaml(ss.str(), path);
}

Config Config::from_yaml(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw UserError("config: " + origin + ":" + std::to_string(e.mark.line + 1) +
                    ": malformed YAML: " + e.msg);
  }
  Config c;
  if (root.IsNull()) return c;
  if (!root.IsMap()) throw UserError("config: " + origin + ": the top level must be a mapping");
  walk(root, "", origin, [&](const Key& k, const YAML::Node& n, const std::string& where) {
    c.assign(k.path, value_from_node(k, n, where));
  });
  return c;
}

void Config::set(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError("--set: expected key=value, got '" + assignment + "'");
  set(assignment.substr(0, eq), assignment.substr(eq + 1), "--set");
}

void Config::set(const std::string& key, const std::string& yaml_value, const std::string& origin) {
  const Key* k = find_key(key);
  if (!k) throw UserError("config: unknown key '" + key + "' (" + origin + ")" + suggestion(key));
  YAML::Node n;
  try {
    n = YAML::Load(yaml_value);
  } catch (const YAML::Exception& e) {
    throw UserError("config: " + key + " (" + origin + "): malformed value '" + yaml_value + "'");
  }
  if (n.IsNull() && !is_list(k->type)) n = YAML::Node(yaml_value);
  assign(key, value_from_node(*k, n, origin));
}

void Config::assign(const std::string& key, Value v) { values_[key] = std::move(v); }

const Config::Value& Config::value(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("config key not in schema: " + key);
  return it->second;
}

int64_t Config::get_int(const std::string& key) const {
  int64_t v = 0;
  parse_int(value(key).items.at(0), v);
  return v;
}
double Config::get_float(const std::string& key) const {
  double v = 0;
  parse_float(value(key).items.at(0), v);
  return v;
}
bool Config::get_bool(const std::string& key) const {
  bool v = false;
  parse_bool(value(key).items.at(0), v);
  return v;
}
std::string Config::get_string(const std::string& key) const { return value(key).items.at(0); }
std::vector<int64_t> Config::get_ints(const std::string& key) const {
  std::vector<int64_t> out;
  for (const auto& s : value(key).items) {
    int64_t v = 0;
    parse_int(s, v);
    out.push_back(v);
  }
  return out;
}
std::vector<double> Config::get_floats(const std::string& key) const {
  std::vector<double> out;
  for (const auto& s : value(key).items) {
    double v = 0;
    parse_float(s, v);
    out.push_back(v);
  }
  return out;
}
std::vector<std::string> Config::get_strings(const std::string& key) const {
  return value(key).items;
}
std::string Config::origin(const std::string& key) const { return value(key).origin; }

namespace {
// Keys nested by their dotted path, in schema order.
struct Tree {
  std::vector<std::pair<std::string, Tree>> kids;
  const Key* key = nullptr;
  Tree& child(const std::string& name) {
    for (auto& [n, t] : kids)
      if (n == name) return t;
    kids.emplace_back(name, Tree{});
    return kids.back().second;
  }
};
}  // namespace

std::string Config::to_yaml() const {
  Tree root;
  for (const auto& k : schema()) {
    Tree* t = &root;
    std::stringstream ss(k.path);
    for (std::string part; std::getline(ss, part, '.');) t = &t->child(part);
    t->key = &k;
  }
  YAML::Emitter out;
  std::function<void(const Tree&)> emit = [&](const Tree& t) {
    out << YAML::BeginMap;
    for (const auto& [name, kid] : t.kids) {
      out << YAML::Key << name << YAML::Value;
      if (!kid.key) {
        emit(kid);
        continue;
      }
      const Value& v = value(kid.key->path);
      if (is_list(kid.key->type)) {
        out << YAML::Flow << YAML::BeginSeq;
        for (const auto& item : v.items) out << item;
        out << YAML::EndSeq;
      } else {
        out << v.items[0];
      }
    }
    out << YAML::EndMap;
  };
  emit(root);
  return std::string(out.c_str()) + "\n";
}

uint64_t Config::hash() const {
  uint64_t h = 0xC0FFEEULL;
  for (const auto& [k, v] : values_) {
    for (char c : k) h = mix64(h ^ static_cast<unsigned char>(c));
    for (const auto& item : v.items) {
      h = mix64(h ^ 0x1F);
      for (char c : item) h = mix64(h ^ static_cast<unsigned char>(c));
    }
  }
  return h;
}

std::vector<std::string> Config::diff(const Config& a, const Config& b) {
  std::vector<std::string> out;
  for (const auto& k : schema())
    if (a.value(k.path).items != b.value(k.path).items) out.push_back(k.path);
  return out;
}

std::string Config::schema_help() {
  std::ostringstream os;
  for (const auto& k : schema()) {
    os << "  " << k.path << " (" << type_name(k.type) << ", default " << k.def;
    if (!k.choices.empty()) os << ", one of " << join(k.choices, "|");
    os << ")\n      " << k.help << "\n";
  }
  return os.str();
}

}  // namespace metacat
