#include "train/adapt.h"

#include <torch/serialize.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "config/config.h"
#include "config/learners.h"
#include "core/error.h"
#include "core/io.h"
#include "core/loss.h"
#include "data/h5.h"
#include "learners/gradient_learner.h"
#include "learners/reptile.h"
#include "train/experiment.h"

namespace metacat {

int64_t checkpoint_input_dim(const Checkpoint& ck) {
  if (!ck.params.contains("body.0.weight"))
    throw UserError(
        "adapt: the checkpoint's model does not take feature vectors (model.name: mlp or "
        "preference)");
  return ck.params.at("body.0.weight").size(1);
}

int64_t checkpoint_descriptor_dim(const Checkpoint& ck) {
  return ck.params.contains("desc.0.weight") ? ck.params.at("desc.0.weight").size(1) : 0;
}

Params model_parameters(const Params& p) {
  // Not the model's: Meta-SGD and per-step rates, per-step batch norm,
  // the descriptor network.
  return p.filter([](const std::string& n) {
    for (const char* prefix : {"lr.", "lslr.", "stepbn.", "desc."})
      if (n.rfind(prefix, 0) == 0) return false;
    return true;
  });
}

AdaptResult adapt_checkpoint(const Checkpoint& ck, const AdaptRequest& req) {
  const RunOptions run = read_options(Config::from_yaml(ck.config_yaml, "checkpoint config"));
  if (run.model.name != "preference")
    throw UserError("adapt: the checkpoint's model is '" + run.model.name +
                    "'; adapt works on preference checkpoints (model.name: preference)");
  const int64_t dim = checkpoint_input_dim(ck);
  ModelSpec ms = run.model;
  ms.input_shape = {dim};
  ms.outputs = 1;
  auto model = make_model(ms);
  LearnerOptions o = run.learner;
  o.descriptor_dim = checkpoint_descriptor_dim(ck);
  if (!learner_traits(o.name).inner_loop)
    throw UserError("adapt: the checkpoint's learner '" + o.name +
                    "' has no inner loop to adapt with (" +
                    learners_with(&LearnerTraits::inner_loop) + " do)");
  AdaptResult r;
  r.steps = req.x.size(0) == 0 ? 0 : req.steps >= 0 ? req.steps : o.eval_inner_steps;
  // Meta-SGD and per-step rates: learned (lr.*, lslr.*), no single rate.
  r.inner_lr = o.name == "metasgd" || o.per_step_rates ? std::nan("") : o.inner_lr;
  const auto dtype = ms.dtype;
  EpisodeBatch b;
  b.sx = req.x.to(dtype), b.sy = req.y.to(dtype), b.qx = b.sx, b.qy = b.sy;
  Params theta = ck.params.detached(true);
  if (o.descriptor_init && !req.descriptor.defined()) {
    // No descriptor: start from the shared head. The run always trained it
    // together with a descriptor's offset, so this start was never evaluated.
    r.warnings.push_back(
        "the checkpoint was trained with learner.descriptor_init, but no descriptor was "
        "given: starting from the shared head without any category's offset "
        "(pass --descriptor for the start meta-training used)");
    o.descriptor_init = false;  // the desc.* parameters are then left unused
  }
  if (req.descriptor.defined()) {
    if (!o.descriptor_init)
      throw UserError(
          "adapt: --descriptor given, but the checkpoint was trained without "
          "learner.descriptor_init");
    b.desc = req.descriptor.to(dtype);
    r.used_descriptor = true;
  }
  auto metrics = [&](const Params& p) {
    torch::NoGradGuard ng;
    if (b.sx.size(0) == 0) return std::map<std::string, double>{};
    return task_metrics(TaskKind::kPreference,
                        model->forward(model_parameters(p), b.sx, Mode::kTrain), b.sy);
  };
  Params adapted;
  if (o.name == "reptile") {
    Reptile l(*model, TaskKind::kPreference, o);
    r.before = metrics(theta);
    adapted = l.adapt(theta, b, r.steps);
  } else {
    GradientLearner l(*model, TaskKind::kPreference, o);
    // The start (with the descriptor's offset) is the 0-step adaptation.
    r.before = metrics(l.adapt(theta, b, 0, false).first);
    adapted = l.adapt(theta, b, r.steps, false).first;
  }
  r.adapted = model_parameters(adapted).detached(false);
  r.after = metrics(r.adapted);
  return r;
}

void save_params_h5(const std::string& path, const Params& p,
                    const std::map<std::string, std::string>& attrs) {
  atomic_write(path, [&](const std::string& tmp) {
    h5::Handle f = h5::create_file(tmp, /*ordered=*/true);
    for (const auto& [k, v] : attrs) h5::write_string_attr(f, k, v, tmp);
    h5::Handle g = h5::create_group(f, "params", tmp, true);
    for (size_t i = 0; i < p.size(); ++i) h5::write_tensor(g, p.names[i], p.tensors[i], tmp);
    h5::flush(f, tmp);
  });
}

void save_params_pytorch(const std::string& path, const Params& p) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (size_t i = 0; i < p.size(); ++i) dict.insert(p.names[i], p.tensors[i].detach().contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  atomic_write_text(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace metacat
