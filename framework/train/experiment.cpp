#include "train/experiment.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>

#include "config/learners.h"
#include "core/error.h"
#include "core/log.h"
#include "data/episode_file.h"
#include "data/shard_store.h"
#include "datasets/fashion_mnist.h"
#include "datasets/synthetic_catalogue.h"
#include "episodes/classification_source.h"
#include "episodes/preference_source.h"
#include "episodes/sinusoid_source.h"
#include "learners/baselines.h"

namespace metacat {

namespace {

torch::Dtype dtype_of(const Config& c) {
  return c.get_string("model.dtype") == "float64" ? torch::kFloat64 : torch::kFloat32;
}

SyntheticSpec synthetic_spec(const Config& c) {
  SyntheticSpec s;
  s.categories = c.get_int("data.synthetic.categories");
  s.departments = c.get_int("data.synthetic.departments");
  s.feature_dim = c.get_int("data.synthetic.feature_dim");
  s.descriptor_dim = c.get_int("data.synthetic.descriptor_dim");
  s.min_items = c.get_int("data.synthetic.min_items");
  s.max_items = c.get_int("data.synthetic.max_items");
  s.spread = c.get_float("data.synthetic.spread");
  s.val_fraction = c.get_float("data.synthetic.val_fraction");
  s.test_fraction = c.get_float("data.synthetic.test_fraction");
  return s;
}

std::shared_ptr<TaskSource> build_source(const Config& c) {
  const std::string src = c.get_string("data.source");
  if (src == "shards") {
    auto store = std::make_shared<ShardStore>(c.get_string("data.path"),
                                              ReaderOptions{c.get_int("data.cache_mb") << 20});
    const uint64_t sum = store->manifest_checksum();
    if (store->manifest().kind == "classification") {
      auto s = std::make_shared<ClassificationSource>(store, c.get_int("task.ways"));
      s->set_data_checksum(sum);
      return s;
    }
    auto s = std::make_shared<PreferenceSource>(store);
    s->set_data_checksum(sum);
    return s;
  }
  if (src == "fashion-mnist") {
    LabeledItems items = load_fashion_mnist(c.get_string("data.path"));
    std::vector<std::vector<int64_t>> classes = {c.get_ints("data.train_classes"),
                                                 c.get_ints("data.val_classes"),
                                                 c.get_ints("data.test_classes")};
    return std::make_shared<ClassificationSource>(make_class_store(items, classes),
                                                  c.get_int("task.ways"));
  }
  if (src == "sinusoid")
    return std::make_shared<SinusoidSource>(c.get_int("seed"), c.get_int("data.sinusoid_tasks"));
  if (src == "synthetic")
    return std::make_shared<PreferenceSource>(
        SyntheticCatalogue(synthetic_spec(c), c.get_int("seed")).to_store());
  throw UserError("data.source: unknown source '" + src + "'");
}

// The keys a source depends on; a source is reused when they are equal.
std::string source_key(const Config& c) {
  std::string k = c.get_string("data.source") + "|" + std::to_string(c.get_int("seed")) + "|" +
                  c.get_string("model.dtype") + "|" + std::to_string(c.get_int("task.ways"));
  for (const char* key : {"data.path"}) k += "|" + c.get_string(key);
  k += "|" + std::to_string(c.get_int("data.cache_mb"));
  for (const char* key : {"data.train_classes", "data.val_classes", "data.test_classes"})
    for (int64_t v : c.get_ints(key)) k += "," + std::to_string(v);
  for (const char* key :
       {"data.sinusoid_tasks", "data.synthetic.categories", "data.synthetic.departments",
        "data.synthetic.feature_dim", "data.synthetic.descriptor_dim", "data.synthetic.min_items",
        "data.synthetic.max_items"})
    k += "|" + std::to_string(c.get_int(key));
  for (const char* key :
       {"data.synthetic.spread", "data.synthetic.val_fraction", "data.synthetic.test_fraction"})
    k += "|" + std::to_string(c.get_float(key));
  return k;
}

}  // namespace

std::shared_ptr<TaskSource> make_source(const Config& c) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<TaskSource>> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = source_key(c);
  if (auto s = cache[key].lock()) return s;
  auto s = build_source(c);
  s->set_dtype(dtype_of(c));
  cache[key] = s;
  return s;
}

ModelSpec model_spec(const Config& c, std::vector<int64_t> input_shape) {
  ModelSpec ms;
  ms.name = c.get_string("model.name");
  ms.input_shape = std::move(input_shape);
  ms.hidden = c.get_ints("model.hidden");
  ms.width = c.get_int("model.width");
  ms.dtype = dtype_of(c);
  return ms;
}

LearnerOptions learner_options(const Config& c, int64_t descriptor_dim) {
  LearnerOptions o;
  o.name = c.get_string("learner.name");
  o.inner_lr = c.get_float("learner.inner_lr");
  o.inner_steps = c.get_int("learner.inner_steps");
  o.eval_inner_steps = c.get_int("learner.eval_inner_steps");
  if (o.eval_inner_steps == 0) o.eval_inner_steps = o.inner_steps;
  o.first_order = c.get_bool("learner.first_order");
  o.inner_loop = c.get_string("learner.inner_loop");
  o.recompute = c.get_bool("learner.recompute");
  o.task_parallel = c.get_bool("learner.task_parallel");
  o.descriptor_init = c.get_bool("learner.descriptor_init");
  o.descriptor_hidden = c.get_ints("learner.descriptor_hidden");
  o.descriptor_dim = descriptor_dim;
  o.finetune_lr = c.get_float("baselines.finetune.lr");
  o.finetune_steps = c.get_int("baselines.finetune.steps");
  o.finetune_head_only = c.get_bool("baselines.finetune.head_only");
  o.scratch_lr = c.get_float("baselines.scratch.lr");
  o.scratch_steps = c.get_int("baselines.scratch.steps");
  return o;
}

std::unique_ptr<Experiment> build_experiment(const Config& c) {
  auto ex = std::make_unique<Experiment>();
  ex->config = c;
  ex->source = make_source(c);
  ex->spec.ways = c.get_int("task.ways");
  ex->spec.shots = c.get_int("task.shots");
  ex->spec.queries = c.get_int("task.queries");

  ex->options = learner_options(c, ex->source->descriptor_dim());
  const LearnerOptions& o = ex->options;

  const TaskKind kind = ex->source->kind();
  if (o.name == "reptile" && c.get_string("train.optimizer") != "sgd")
    log_warn() << "reptile with train.optimizer=" << c.get_string("train.optimizer")
               << " uses the Reptile direction as the gradient of that optimiser; set "
                  "train.optimizer: sgd for the original update";
  if (learner_traits(o.name).inner_loop && o.inner_steps == 0)
    throw UserError("learner.inner_steps: " + o.name + " needs at least one inner step");

  ModelSpec ms = model_spec(c, ex->source->input_shape());
  if (ms.name == "preference" && kind != TaskKind::kPreference)
    throw UserError("model.name: preference scores items of preference tasks, but data.source '" +
                    c.get_string("data.source") + "' gives " + to_string(kind) + " tasks");
  ms.outputs = ex->source->outputs(ex->spec);
  ex->task_model = make_model(ms);
  if (o.name == "finetune") ms.outputs = ex->source->joint_outputs();
  ex->model = make_model(ms);
  ex->learner = make_learner(*ex->model, kind, o);
  return ex;
}

std::vector<EvalSummary> evaluate_methods(const Experiment& ex,
                                          const std::vector<EvalMethod>& methods, bool print,
                                          comm::Backend* comm) {
  const Config& c = ex.config;
  const Split split = parse_split(c.get_string("eval.split"));
  const uint64_t seed = c.get_int("eval.seed");
  auto predictor = [&](const EvalMethod& m) -> Predictor {
    return [&ex, &m, seed](const Episode& e, int64_t i) {
      const uint64_t s = prediction_seed(seed, i);
      if (m.learner) return m.learner->predict(m.theta, e, s);
      return predict_from_scratch(*ex.task_model, ex.source->kind(), ex.options, e, s);
    };
  };
  std::vector<EvalSummary> out;
  const std::string file = c.get_string("eval.episodes_file");
  if (!file.empty()) {
    EpisodeFile f = read_episode_file(file);
    check_episode_file(f, *ex.source, file);
    const int64_t n = static_cast<int64_t>(f.plans.size());
    for (const auto& m : methods) {
      out.push_back(evaluate(
          m.name, *ex.source, f.spec.shots, n,
          [&](int64_t i) { return ex.source->materialize(f.plans[i], f.spec); }, predictor(m),
          comm));
      if (print) log_info() << format_summary(out.back());
    }
    return out;
  }
  const int64_t n = c.get_int("eval.episodes");
  // Cold: categories never seen in meta-training (eval.split); warm: the
  // training categories, with episodes of the same seeded protocol.
  std::vector<std::pair<Split, std::string>> groups = {{split, ""}};
  if (c.get_bool("eval.warm") && split != Split::kTrain)
    groups = {{Split::kTrain, "warm"}, {split, "cold"}};
  for (const auto& [sp, group] : groups) {
    for (int64_t shots : c.get_ints("eval.shots")) {
      EpisodeSpec spec = ex.spec;
      spec.shots = shots;
      spec.queries = c.get_int("eval.queries");
      for (const auto& m : methods) {
        out.push_back(evaluate(m.name, *ex.source, sp, spec, n, seed, predictor(m), comm));
        out.back().group = group;
        if (print) log_info() << format_summary(out.back());
      }
    }
  }
  return out;
}

}  // namespace metacat
