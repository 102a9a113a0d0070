#include "train/options.h"

#include <algorithm>
#include <charconv>

#include "config/learners.h"
#include "core/error.h"

namespace metacat {

namespace {

torch::Dtype dtype_of(const Config& c) {
  return c.get_string("model.dtype") == "float64" ? torch::kFloat64 : torch::kFloat32;
}

DataOptions data_options(const Config& c) {
  DataOptions d;
  d.source = c.get_string("data.source");
  d.path = c.get_string("data.path");
  d.cache_bytes = c.get_int("data.cache_mb") << 20;
  d.prefetch_workers = c.get_int("data.prefetch_workers");
  d.prefetch_depth = c.get_int("data.prefetch_depth");
  d.classes = {c.get_ints("data.train_classes"), c.get_ints("data.val_classes"),
               c.get_ints("data.test_classes")};
  d.sinusoid_tasks = c.get_int("data.sinusoid_tasks");
  d.class_augment = parse_class_augment(c.get_string("data.class_augment"));
  d.val_augment = parse_val_augment(c.get_string("data.val_augment"));
  d.item_augment = parse_item_augment(c.get_string("data.item_augment"));
  d.item_shift = c.get_int("data.item_shift");
  d.id_dropout = c.get_float("data.id_dropout");
  // A shift other than the default's without shifts: refused. (Not by the
  // key's origin: a checkpoint's record names every key, defaults included.)
  if (d.item_shift != Config().get_int("data.item_shift") &&
      d.item_augment != ItemAugment::kShift && d.item_augment != ItemAugment::kFlipShift)
    throw UserError("data.item_shift (" + c.origin("data.item_shift") +
                    ") is the largest shift of data.item_augment: shift or flip+shift, and "
                    "data.item_augment is " +
                    c.get_string("data.item_augment"));
  SyntheticSpec& s = d.synthetic;
  s.categories = c.get_int("data.synthetic.categories");
  s.departments = c.get_int("data.synthetic.departments");
  s.feature_dim = c.get_int("data.synthetic.feature_dim");
  s.descriptor_dim = c.get_int("data.synthetic.descriptor_dim");
  s.min_items = c.get_int("data.synthetic.min_items");
  s.max_items = c.get_int("data.synthetic.max_items");
  s.spread = c.get_float("data.synthetic.spread");
  s.val_fraction = c.get_float("data.synthetic.val_fraction");
  s.test_fraction = c.get_float("data.synthetic.test_fraction");
  s.label_noise = c.get_float("data.synthetic.label_noise");
  d.seed = c.get_int("seed");
  d.ways = c.get_int("task.ways");
  d.dtype = dtype_of(c);
  return d;
}

ModelSpec model_options(const Config& c) {
  ModelSpec ms;
  ms.name = c.get_string("model.name");
  ms.hidden = c.get_ints("model.hidden");
  ms.width = c.get_int("model.width");
  ms.init = c.get_string("model.init");
  ms.embedding_dim = c.get_int("model.embedding_dim");
  ms.pooling = c.get_string("model.pooling");
  ms.sequence = c.get_string("model.sequence");
  ms.gru_hidden = c.get_int("model.gru_hidden");
  ms.context = c.get_int("model.context");
  ms.interactions = c.get_string("model.interactions");
  ms.context_rows = c.get_string("model.context_rows");
  ms.skip = c.get_strings("model.skip");
  ms.dtype = dtype_of(c);
  return ms;
}

LearnerOptions learner_options(const Config& c) {
  LearnerOptions o;
  o.name = c.get_string("learner.name");
  const LearnerTraits& traits = learner_traits(o.name);
  o.inner_lr = c.get_float("learner.inner_lr");
  o.inner_steps = c.get_int("learner.inner_steps");
  o.eval_inner_steps = c.get_int("learner.eval_inner_steps");
  if (o.eval_inner_steps == 0) o.eval_inner_steps = o.inner_steps;
  o.first_order = c.get_bool("learner.first_order");
  o.inner_embeddings = c.get_bool("learner.inner_embeddings");
  o.inner_params = c.get_string("learner.inner_params");
  o.inner_loss = c.get_string("learner.inner_loss");
  o.inner_loop = c.get_string("learner.inner_loop");
  o.recompute = c.get_bool("learner.recompute");
  o.task_parallel = c.get_bool("learner.task_parallel");
  o.descriptor_init = c.get_bool("learner.descriptor_init");
  o.descriptor_hidden = c.get_ints("learner.descriptor_hidden");
  o.per_step_rates = c.get_bool("learner.per_step_rates");
  o.per_step_bn = c.get_bool("learner.per_step_bn");
  o.multi_step_loss = c.get_bool("learner.multi_step_loss");
  o.multi_step_anneal = c.get_int("learner.multi_step_anneal");
  if (o.multi_step_anneal == 0)
    o.multi_step_anneal = std::max<int64_t>(1, c.get_int("train.steps") / 10);
  if ((o.per_step_rates || o.per_step_bn || o.multi_step_loss) && !traits.gradient_family)
    throw UserError(
        "learner.per_step_rates/per_step_bn/multi_step_loss: MAML++ options of the "
        "gradient learners (" +
        learners_with(&LearnerTraits::gradient_family) + "), not " + o.name);
  if (o.inner_loss != "mean" && !traits.gradient_family)
    throw UserError("learner.inner_loss (" + c.origin("learner.inner_loss") +
                    "): the gradient learners' support loss (" +
                    learners_with(&LearnerTraits::gradient_family) + "), not " + o.name);
  if (o.inner_params != "dense" && !traits.gradient_family)
    throw UserError("learner.inner_params (" + c.origin("learner.inner_params") +
                    "): chooses what the gradient learners' inner loop adapts (" +
                    learners_with(&LearnerTraits::gradient_family) + "), not " + o.name);
  o.embedding_norm = c.get_string("learner.embedding_norm");
  if (o.embedding_norm != "none" && o.name != "protonet") {
    // ProtoNet's option: also accepted beside another learner that ProtoNet
    // is compared with (eval.learners), where only ProtoNet's run uses it.
    const auto compared = c.get_strings("eval.learners");
    if (std::find(compared.begin(), compared.end(), "protonet") == compared.end() ||
        !c.get_bool("eval.at_end"))
      throw UserError("learner.embedding_norm (" + c.origin("learner.embedding_norm") +
                      "): normalises ProtoNet's embeddings; " + o.name +
                      " has no prototypes (and no compared protonet runs: eval.learners does not "
                      "list it, or eval.at_end is false)");
    o.embedding_norm = "none";
  }
  o.finetune_lr = c.get_float("baselines.finetune.lr");
  o.finetune_steps = c.get_int("baselines.finetune.steps");
  o.finetune_head_only = c.get_bool("baselines.finetune.head_only");
  o.scratch_lr = c.get_float("baselines.scratch.lr");
  o.scratch_steps = c.get_int("baselines.scratch.steps");
  if (traits.inner_loop && o.inner_steps == 0)
    throw UserError("learner.inner_steps (" + c.origin("learner.inner_steps") + "): " + o.name +
                    " needs at least one inner step");
  return o;
}

TrainOptions train_options(const Config& c) {
  TrainOptions t;
  t.seed = c.get_int("seed");
  t.steps = c.get_int("train.steps");
  t.meta_batch = c.get_int("train.meta_batch");
  t.partitions = c.get_int("train.partitions");
  t.episode.ways = c.get_int("task.ways");
  t.episode.shots = c.get_int("task.shots");
  t.episode.queries = c.get_int("task.queries");
  t.optimizer.name = c.get_string("train.optimizer");
  t.optimizer.lr = c.get_float("train.outer_lr");
  t.optimizer.schedule = c.get_string("train.lr_schedule");
  t.optimizer.min_lr = c.get_float("train.min_lr");
  if (t.optimizer.min_lr != 0 && t.optimizer.schedule != "cosine")
    throw UserError("train.min_lr (" + c.origin("train.min_lr") +
                    ") is where train.lr_schedule: cosine ends; the schedule is " +
                    t.optimizer.schedule);
  t.optimizer.total_steps = t.steps;
  t.optimizer.beta1 = c.get_float("train.beta1");
  t.optimizer.beta2 = c.get_float("train.beta2");
  t.grad_clip = c.get_float("train.grad_clip");
  t.log_every = c.get_int("train.log_every");
  t.checkpoint_every = c.get_int("train.checkpoint_every");
  t.checkpoint_minutes = c.get_float("train.checkpoint_minutes");
  t.keep_checkpoints = c.get_int("train.keep_checkpoints");
  t.lock_wait_s = c.get_float("train.lock_wait_s");
  t.signals = c.get_strings("train.signals");
  return t;
}

EvalOptions eval_options(const Config& c) {
  EvalOptions e;
  e.at_end = c.get_bool("eval.at_end");
  e.split = parse_split(c.get_string("eval.split"));
  e.shots = c.get_ints("eval.shots");
  e.queries = c.get_int("eval.queries");
  e.episodes = c.get_int("eval.episodes");
  e.seed = c.get_int("eval.seed");
  e.warm = c.get_bool("eval.warm");
  e.episodes_file = c.get_string("eval.episodes_file");
  e.baselines = c.get_strings("eval.baselines");
  e.learners = c.get_strings("eval.learners");
  for (const auto& l : e.learners)
    if (l == "finetune")
      throw UserError("eval.learners (" + c.origin("eval.learners") +
                      "): finetune is a baseline: list it in eval.baselines");
  e.val_every = c.get_int("eval.val_every");
  e.val_episodes = c.get_int("eval.val_episodes");
  e.val_shots =
      c.get_int("eval.val_shots") > 0 ? c.get_int("eval.val_shots") : c.get_int("task.shots");
  e.best_metric = c.get_string("eval.best_metric");
  return e;
}

CommOptions comm_options(const Config& c) {
  CommOptions o;
  o.backend = c.get_string("comm.backend");
  o.bucket_bytes = static_cast<int64_t>(c.get_float("comm.bucket_mb") * (1 << 20));
  o.timeout_s = c.get_float("comm.timeout_s");
  o.arrivals = c.get_bool("comm.arrivals");
  o.silence_s = c.get_float("comm.silence_s");
  o.check_every = c.get_int("comm.check_every");
  o.exact = c.get_string("comm.reduction") == "exact";
  o.sparse_embeddings = c.get_bool("comm.sparse_embeddings");
  return o;
}

FaultOptions fault_options(const Config& c) {
  FaultOptions f;
  f.rank = c.get_int("debug.fail_rank");
  f.step = c.get_int("debug.fail_at_step");
  const std::string m = c.get_string("debug.fail_mode");
  f.mode = m == "hang"      ? FaultOptions::Mode::kHang
           : m == "diverge" ? FaultOptions::Mode::kDiverge
           : m == "signal"  ? FaultOptions::Mode::kSignal
                            : FaultOptions::Mode::kThrow;
  return f;
}

}  // namespace

RunOptions read_options(const Config& c) {
  RunOptions o;
  o.threads = c.get_int("threads");
  o.device = c.get_string("device");
  o.data = data_options(c);
  o.model = model_options(c);
  o.learner = learner_options(c);
  o.train = train_options(c);
  o.eval = eval_options(c);
  o.comm = comm_options(c);
  o.faults = fault_options(c);
  o.finetune.steps = c.get_int("baselines.finetune.pretrain_steps");
  o.finetune.id_dropout = c.get_float("baselines.finetune.id_dropout");
  if (o.finetune.id_dropout < 0 && o.finetune.id_dropout != -1)
    throw UserError("baselines.finetune.id_dropout (" + c.origin("baselines.finetune.id_dropout") +
                    "): 0 to 1, or -1 for the run's data.id_dropout");
  o.metaemb.attributes = c.get_strings("baselines.metaemb.attributes");
  o.metaemb.steps = c.get_int("baselines.metaemb.steps");
  o.metaemb.items = c.get_int("baselines.metaemb.items");
  o.metaemb.rows = c.get_int("baselines.metaemb.rows");
  o.metaemb.lr = c.get_float("baselines.metaemb.lr");
  o.metaemb.warmup_lr = c.get_float("baselines.metaemb.warmup_lr");
  o.metaemb.cold_weight = c.get_float("baselines.metaemb.cold_weight");
  o.metaemb.hidden = c.get_int("baselines.metaemb.hidden");
  o.metaemb.replace = c.get_string("baselines.metaemb.replace");
  o.metaemb.rows_as = c.get_string("baselines.metaemb.rows_as");
  return o;
}

namespace {
// The MAML++ options' keys (a learner without them has them off in its record).
constexpr const char* kMamlPlusPlusKeys[] = {"learner.per_step_rates", "learner.per_step_bn",
                                             "learner.multi_step_loss"};
}  // namespace

RunOptions finetune_pretraining(const RunOptions& run) {
  RunOptions o = run;
  o.learner.name = "finetune";
  o.learner.descriptor_init = false;
  o.train.steps = run.finetune.steps;
  if (run.finetune.id_dropout >= 0) o.data.id_dropout = run.finetune.id_dropout;
  o.train.optimizer.name = "adam";
  o.train.optimizer.total_steps = o.train.steps;  // a cosine schedule spans the pre-training
  o.learner.per_step_rates = o.learner.per_step_bn = o.learner.multi_step_loss = false;
  o.learner.embedding_norm = "none";
  o.learner.inner_params = "dense";  // no inner loop
  o.learner.inner_loss = "mean";
  return o;
}

Config finetune_record(const Config& run, const RunOptions& pretraining) {
  const std::string why = "finetune baseline pre-training";
  Config c = run;
  c.set("learner.name", pretraining.learner.name, why);
  c.set("learner.descriptor_init", pretraining.learner.descriptor_init ? "true" : "false", why);
  c.set("train.steps", std::to_string(pretraining.train.steps), why);
  char q[32];  // the shortest text that reads back as the same double
  c.set("data.id_dropout",
        std::string(q, std::to_chars(q, q + sizeof q, pretraining.data.id_dropout).ptr), why);
  c.set("train.optimizer", pretraining.train.optimizer.name, why);
  for (const char* k : kMamlPlusPlusKeys)
    c.set(k, "false", why);  // MAML++ options are the gradient learners'; finetune has none
  c.set("learner.embedding_norm", "none", why);  // ProtoNet's
  c.set("learner.inner_params", "dense", why);   // finetune has no inner loop
  c.set("learner.inner_loss", "mean", why);
  return c;
}

Config compared_learner_record(const Config& run, const std::string& name) {
  const std::string why = "eval.learners: compared with " + run.get_string("learner.name");
  Config c = run;
  c.set("learner.name", name, why);
  if (!learner_traits(name).descriptor_init) c.set("learner.descriptor_init", "false", why);
  if (!learner_traits(name).gradient_family)  // MAML++ options are the gradient learners'
    for (const char* k : kMamlPlusPlusKeys) c.set(k, "false", why);
  if (name != "protonet") c.set("learner.embedding_norm", "none", why);
  if (!learner_traits(name).gradient_family || name == "anil" || name == "protomaml")
    c.set("learner.inner_params", "dense", why);  // no inner loop, or one that adapts the head
  if (!learner_traits(name).gradient_family) c.set("learner.inner_loss", "mean", why);
  if (name == "anil") c.set("learner.per_step_bn", "false", why);        // the body is not adapted
  if (name == "metasgd") c.set("learner.per_step_rates", "false", why);  // rates of its own
  const int64_t steps = run.get_int("eval.learners_steps");
  if (steps > 0) c.set("train.steps", std::to_string(steps), why);
  c.set("eval.learners", "[]", why);
  c.set("eval.learners_steps", "0", why);
  c.set("eval.baselines", "[]", why);
  c.set("eval.at_end", "false", why);
  return c;
}

CommOptions read_comm_options(const Config& c) { return comm_options(c); }

std::string method_label(const LearnerOptions& learner) {
  return learner.name + (learner.descriptor_init ? "+descriptor" : "");
}

}  // namespace metacat
