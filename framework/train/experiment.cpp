#include "train/experiment.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>

#include "comm/backend.h"
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
#include "learners/metaemb.h"

namespace metacat {

namespace {

// Episode i's outputs of a method; anything random in its adaptation is
// seeded by prediction_seed(seed, i) (episodes/evaluation.h).
Predictor predictor(const Experiment& ex, const EvalMethod& m, uint64_t seed) {
  return [&ex, &m, seed](const Episode& e, int64_t i) {
    if (m.oracle) {
      if (!e.query_oracle.defined())
        throw UserError("baseline oracle: episode " + std::to_string(i) +
                        " has no true scores (only synthetic catalogues carry the true "
                        "model's scores)");
      return e.query_oracle.reshape({-1, 1});
    }
    const uint64_t s = prediction_seed(seed, i);
    if (m.learner)
      return m.learner->predict(m.theta, on_device(e, m.theta.tensors.at(0).device()), s);
    return predict_from_scratch(*ex.task_model, ex.source->kind(), ex.options.learner, e, s);
  };
}

// A classification store with data.class_augment applied.
std::shared_ptr<const ItemStore> augmented(std::shared_ptr<const ItemStore> store,
                                           const DataOptions& d) {
  if (d.class_augment == ClassAugment::kNone && d.val_augment == ValAugment::kNone) return store;
  return std::make_shared<AugmentedStore>(std::move(store), d.class_augment, d.val_augment);
}

std::shared_ptr<TaskSource> build_source(const DataOptions& d) {
  if (d.source == "shards") {
    auto store = std::make_shared<ShardStore>(d.path, ReaderOptions{d.cache_bytes});
    const uint64_t sum = store->manifest_checksum();
    if (store->manifest().kind == "classification") {
      auto s = std::make_shared<ClassificationSource>(augmented(store, d), d.ways);
      s->set_data_checksum(sum);
      s->set_item_augment(d.item_augment, d.item_shift);
      return s;
    }
    auto s = std::make_shared<PreferenceSource>(store);
    s->set_data_checksum(sum);
    s->set_id_dropout(d.id_dropout);
    return s;
  }
  if (d.source == "fashion-mnist") {
    LabeledItems items = load_fashion_mnist(d.path);
    auto s = std::make_shared<ClassificationSource>(
        augmented(make_class_store(items, d.classes), d), d.ways);
    s->set_item_augment(d.item_augment, d.item_shift);
    return s;
  }
  if (d.source == "sinusoid") return std::make_shared<SinusoidSource>(d.seed, d.sinusoid_tasks);
  if (d.source == "synthetic")
    return std::make_shared<PreferenceSource>(SyntheticCatalogue(d.synthetic, d.seed).to_store());
  throw UserError("data.source: unknown source '" + d.source + "'");
}

// Everything a source depends on; a source is reused when it is equal.
std::string source_key(const DataOptions& d) {
  std::ostringstream k;
  k << d.source << "|" << d.seed << "|" << static_cast<int>(d.dtype) << "|" << d.ways << "|"
    << d.path << "|" << d.cache_bytes;
  for (const auto& list : d.classes) {
    k << "|";
    for (int64_t v : list) k << "," << v;
  }
  const SyntheticSpec& s = d.synthetic;
  k << "|" << d.sinusoid_tasks << "|" << static_cast<int>(d.class_augment) << "|"
    << static_cast<int>(d.val_augment) << "|" << static_cast<int>(d.item_augment) << "|"
    << d.item_shift << "|" << std::hexfloat << d.id_dropout << std::defaultfloat << "|"
    << s.categories << "|" << s.departments << "|" << s.feature_dim << "|" << s.descriptor_dim
    << "|" << s.min_items << "|" << s.max_items << "|" << std::hexfloat << s.spread << "|"
    << s.val_fraction << "|" << s.test_fraction << "|" << s.label_noise;
  return k.str();
}

}  // namespace

std::shared_ptr<TaskSource> make_source(const DataOptions& d) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<TaskSource>> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = source_key(d);
  if (auto s = cache[key].lock()) return s;
  auto s = build_source(d);
  s->set_dtype(d.dtype);
  cache[key] = s;
  return s;
}

namespace {
// metaemb's requirements (eval.baselines at train time, --baseline at eval).
void check_metaemb(const Experiment& ex, const RunOptions& o) {
  MetaEmb check(*ex.model, o.metaemb);
  if (!dynamic_cast<const PreferenceSource*>(ex.source.get()))
    throw UserError("eval.baselines: metaemb needs preference data packed with a schema");
  // The generator learns against the model as the learner's parameters
  // score items: through their head, with no descriptor start.
  if (!ex.learner->init(0).contains("head.weight") || o.learner.descriptor_init)
    throw UserError(
        "eval.baselines: metaemb trains its generator against the model's head at the "
        "learner's parameters, and learner '" +
        o.learner.name + "' " +
        (o.learner.descriptor_init ? "with learner.descriptor_init starts each task from its "
                                     "descriptor instead"
                                   : "scores items without a head (no head.* parameters)"));
}
}  // namespace

std::unique_ptr<Experiment> build_experiment(const Config& c) {
  return build_experiment(c, read_options(c), "");
}

std::unique_ptr<Experiment> build_experiment(const Config& record, RunOptions o, std::string role) {
  auto ex = std::make_unique<Experiment>();
  ex->config = record;
  ex->role = std::move(role);
  ex->source = make_source(o.data);
  ex->spec = o.train.episode;
  o.learner.descriptor_dim = ex->source->descriptor_dim();

  const TaskKind kind = ex->source->kind();
  if (o.data.class_augment != ClassAugment::kNone && kind != TaskKind::kClassification)
    throw UserError(
        "data.class_augment: rotates and mirrors classes of image classification "
        "data; data.source '" +
        o.data.source + "' gives " + to_string(kind) + " tasks (set data.class_augment: none)");
  // Heldout validation classes are the rot270 images of the training
  // categories. A left-right mirror of a rot90 image is the rot270 image of
  // the mirrored item (F R F = R^-1), and most catalogue items are left-right
  // symmetric: mirrored training items would be validation classes in
  // disguise (measured: ProtoNet validation 1-shot 0.85, test 0.76).
  if (o.data.val_augment == ValAugment::kHeldout &&
      (o.data.class_augment == ClassAugment::kDihedral ||
       o.data.item_augment == ItemAugment::kFlip || o.data.item_augment == ItemAugment::kFlipShift))
    throw UserError(
        "data.val_augment: heldout validates on the 270-degree rotations of the training "
        "categories, and mirrored training images (data.class_augment: dihedral, or "
        "data.item_augment with flip) are those images for left-right symmetric items: use "
        "class_augment rotations and item_augment shift or none, or data.val_augment: "
        "transformed");
  if (o.data.item_augment != ItemAugment::kNone && kind != TaskKind::kClassification)
    throw UserError(
        "data.item_augment: flips and shifts images of image classification data; "
        "data.source '" +
        o.data.source + "' gives " + to_string(kind) + " tasks (set data.item_augment: none)");
  // Item-id dropout, the run's and the finetune pre-training's: refused
  // here, before any training, where the data has no item ids to drop.
  const std::pair<double, std::string> drops[] = {
      {o.data.id_dropout, "data.id_dropout"},
      {o.finetune.id_dropout, "baselines.finetune.id_dropout"}};
  for (const auto& [q, key] : drops)
    if (q > 0 && (kind != TaskKind::kPreference || !item_field(ex->source->fields())))
      throw UserError(key + ": drops the item ids of preference data packed with a schema " +
                      "that declares an item column; this data (" + ex->source->describe() +
                      ") has none (set " + key + ": 0)");
  if (o.learner.name == "reptile" && o.train.optimizer.name != "sgd")
    log_warn() << "reptile with train.optimizer=" << o.train.optimizer.name
               << " uses the Reptile direction as the gradient of that optimiser; set "
                  "train.optimizer: sgd for the original update";

  ModelSpec ms = o.model;
  ms.input_shape = ex->source->input_shape();
  ms.fields = ex->source->fields();
  if (!ms.fields.empty() && ms.name != "embedding")
    throw UserError("model.name: " + ms.name +
                    " would read the data's coded columns (ids, brands, ...) as numbers; data "
                    "packed with a schema needs model.name: embedding");
  if (ms.name == "preference" && kind != TaskKind::kPreference)
    throw UserError("model.name: preference scores items of preference tasks, but data.source '" +
                    o.data.source + "' gives " + to_string(kind) + " tasks");
  ms.outputs = ex->source->outputs(ex->spec);
  ex->task_model = make_model(ms);
  if (o.learner.name == "finetune") ms.outputs = ex->source->joint_outputs();
  ex->model = make_model(ms);
  ex->learner = make_learner(*ex->model, kind, o.learner);

  // Refused now, not after the training.
  const auto& bl = o.eval.baselines;
  if (std::find(bl.begin(), bl.end(), "oracle") != bl.end()) oracle_method(*ex);
  if (std::find(bl.begin(), bl.end(), "metaemb") != bl.end()) check_metaemb(*ex, o);

  ex->best_metric = o.eval.best_metric.empty() ? primary_metric(kind) : o.eval.best_metric;
  const auto names = metric_names(kind);
  if (std::find(names.begin(), names.end(), ex->best_metric) == names.end()) {
    std::string known;
    for (const auto& k : names) known += (known.empty() ? "" : ", ") + k;
    throw UserError("eval.best_metric: '" + ex->best_metric + "' is not a metric of " +
                    to_string(kind) + " tasks (" + known + ")");
  }
  ex->options = std::move(o);
  return ex;
}

std::unique_ptr<Experiment> finetune_experiment(const Experiment& ex) {
  const RunOptions o = finetune_pretraining(ex.options);
  return build_experiment(finetune_record(ex.config, o), o,
                          "baseline finetune: joint pre-training (learner finetune, adam, " +
                              std::to_string(o.train.steps) +
                              " steps = baselines.finetune.pretrain_steps) for the run "
                              "configured below");
}

namespace {
std::string shape_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

std::unique_ptr<Experiment> checkpoint_experiment(const Checkpoint& ck, const std::string& path,
                                                  const std::vector<std::string>& overrides) {
  Config cfg = Config::from_yaml(ck.config_yaml, path);
  for (const auto& o : overrides) cfg.set(o);
  auto ex = build_experiment(cfg);
  const Params want = ex->learner->init(0);
  if (want.names != ck.params.names)
    throw UserError("checkpoint '" + path + "' does not match its config's model/learner");
  // Same names, other shapes: an override that changed a width (e.g.
  // model.skip of a numeric column) would fail inside LibTorch otherwise.
  for (size_t i = 0; i < want.size(); ++i)
    if (want.tensors[i].sizes() != ck.params.tensors[i].sizes())
      throw UserError("checkpoint '" + path + "': parameter " + want.names[i] + " has shape " +
                      shape_string(ck.params.tensors[i]) + ", the config's model makes " +
                      shape_string(want.tensors[i]) +
                      " (an override changed the model: model.* settings must match the run's)");
  return ex;
}

EvalMethod oracle_method(const Experiment& ex, const std::string& asked_by) {
  if (!ex.source->has_oracle())
    throw UserError(asked_by +
                    ": the oracle baseline scores items with the true model's scores, and only "
                    "synthetic catalogues carry them (data.source: synthetic, or shards packed "
                    "by `metacat pack --source synthetic`); this data (" +
                    ex.source->describe() + ") has none");
  EvalMethod m;
  m.name = "oracle";
  m.oracle = true;
  return m;
}

EvalMethod metaemb_method(const Experiment& ex, const EvalMethod& base, comm::Backend* comm,
                          const StopCheck& stop) {
  check_metaemb(ex, ex.options);  // among others: the source is a PreferenceSource
  if (!base.learner)
    throw UserError("eval.baselines: metaemb starts from a meta-trained learner's parameters");
  const auto& source = dynamic_cast<const PreferenceSource&>(*ex.source);
  const MetaEmb me(*ex.model, ex.options.metaemb);
  const ItemIndex index = index_items(source.store(), read_fields(ex.model->spec()));
  const uint64_t seed = ex.options.train.seed;
  const int64_t cold = index.cold(ex.options.metaemb.replace == "unshown");
  EvalMethod m = base;
  m.name = base.name + "+metaemb";
  if (!me.uses_generator()) {
    // zero, warm_mean, random: rows that no generator makes, so none is
    // trained or sent (fill_cold does not read `gen` for them).
    if (!comm || comm->rank() == 0)
      log_info() << "baseline metaemb: " << cold << " new items get " << ex.options.metaemb.rows_as
                 << " rows, no generator trained (baselines.metaemb.replace: "
                 << ex.options.metaemb.replace << ", rows_as: " << ex.options.metaemb.rows_as
                 << ")";
    m.theta = me.fill_cold(base.theta, Params{}, index, seed);
    return m;
  }
  Params gen = me.init(seed);
  // Every rank (rank 0 too) takes the generator from the same doubles.
  std::vector<double> flat(static_cast<size_t>(gen.numel()));
  if (!comm || comm->rank() == 0) {
    MetaEmb::Report r;
    log_info() << "baseline metaemb: training a generator of id embeddings for "
               << ex.options.metaemb.steps << " steps";
    try {
      gen = me.train(base.theta, index, seed, &r, stop);
    } catch (const MetaEmb::GeneratorStopped&) {
      throw EvaluationStopped{};
    }
    log_info() << "baseline metaemb: generator of id embeddings trained on " << r.items
               << " items of the training tasks for " << ex.options.metaemb.steps << " steps (loss "
               << r.first_loss << " -> " << r.last_loss
               << "; after it, on fresh draws: generated rows " << r.generated_loss
               << ", the items' own trained rows " << r.trained_loss << ", N(0, 0.1^2) rows "
               << r.random_loss << "); " << cold
               << " new items get generated embeddings (baselines.metaemb.replace: "
               << ex.options.metaemb.replace << ", rows_as: " << ex.options.metaemb.rows_as << ")";
    const torch::Tensor f = flatten(gen.tensors).to(torch::kCPU, torch::kFloat64).contiguous();
    std::copy(f.data_ptr<double>(), f.data_ptr<double>() + f.numel(), flat.begin());
  } else if (stop) {
    // The other ranks ask the stop check as often as rank 0's training does.
    for (int64_t k = 0; k < me.stop_checks(); ++k)
      if (stop()) throw EvaluationStopped{};
  }
  if (comm && comm->size() > 1) comm->broadcast(flat.data(), flat.size() * sizeof(double), 0);
  const torch::Tensor f =
      torch::from_blob(flat.data(), {static_cast<int64_t>(flat.size())}, torch::kFloat64);
  const torch::Tensor& like = base.theta.tensors.at(0);
  int64_t at = 0;
  for (auto& t : gen.tensors) {
    const int64_t n = t.numel();
    t = f.slice(0, at, at + n).reshape(t.sizes()).to(like.device(), like.scalar_type()).clone();
    at += n;
  }
  m.theta = me.fill_cold(base.theta, gen, index, seed);
  return m;
}

EvalSummary evaluate_method(const Experiment& ex, const EvalMethod& m, Split split,
                            const EpisodeSpec& spec, int64_t episodes, uint64_t seed,
                            comm::Backend* comm, const StopCheck& stop) {
  return evaluate(m.name, *ex.source, split, spec, episodes, seed, predictor(ex, m, seed), comm,
                  stop);
}

std::vector<EvalSummary> evaluate_methods(const Experiment& ex,
                                          const std::vector<EvalMethod>& methods, bool print,
                                          comm::Backend* comm, const StopCheck& stop) {
  const EvalOptions& e = ex.options.eval;
  std::vector<EvalSummary> out;
  if (!e.episodes_file.empty()) {
    EpisodeFile f = read_episode_file(e.episodes_file);
    check_episode_file(f, *ex.source, e.episodes_file);
    const int64_t n = static_cast<int64_t>(f.plans.size());
    for (const auto& m : methods) {
      out.push_back(evaluate(
          m.name, *ex.source, f.spec.shots, n,
          [&](int64_t i) { return ex.source->materialize(f.plans[i], f.spec); },
          predictor(ex, m, e.seed), comm, stop));
      if (print) log_info() << format_summary(out.back());
    }
    return out;
  }
  // Cold: categories never seen in meta-training (eval.split); warm: the
  // training categories, with episodes of the same seeded protocol.
  std::vector<std::pair<Split, std::string>> groups = {{e.split, ""}};
  if (e.warm && e.split != Split::kTrain) groups = {{Split::kTrain, "warm"}, {e.split, "cold"}};
  for (const auto& [sp, group] : groups) {
    for (int64_t shots : e.shots) {
      EpisodeSpec spec = ex.spec;
      spec.shots = shots;
      spec.queries = e.queries;
      for (const auto& m : methods) {
        out.push_back(evaluate_method(ex, m, sp, spec, e.episodes, e.seed, comm, stop));
        out.back().group = group;
        if (print) log_info() << format_summary(out.back());
      }
    }
  }
  return out;
}

}  // namespace metacat
