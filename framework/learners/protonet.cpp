#include "learners/protonet.h"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace metacat {

Params ProtoNet::init(uint64_t seed) const {
  // The head is never used: leave it out of the meta-parameters.
  return model_.init(seed).filter([](const std::string& n) { return !Model::is_head(n); });
}

torch::Tensor ProtoNet::normalized(torch::Tensor f) const {
  const std::string& norm = options().embedding_norm;
  if (norm == "none") return f;
  if (norm == "centered_l2")
    f = f - f.mean(-2, true);
  else if (norm != "l2")
    throw UserError("learner.embedding_norm: unknown value '" + norm + "'");
  // Norm sqrt(dim): squared distances stay in the range of unit-variance
  // features (up to 4 dim), so the softmax is not made flat.
  const double target = std::sqrt(static_cast<double>(f.size(-1)));
  return f * (target / f.norm(2, {-1}, true).clamp_min(1e-12));
}

torch::Tensor ProtoNet::logits(const Params& theta, const Episode& ep) const {
  const int64_t ns = ep.support_x.size(0), nq = ep.query_x.size(0);
  const bool binary = kind_ == TaskKind::kPreference;
  if (binary && ns == 0)
    return torch::zeros({nq, 1}, ep.query_x.options());  // nothing to compare with
  torch::Tensor f =
      normalized(model_.features(theta, torch::cat({ep.support_x, ep.query_x}), Mode::kTrain));
  torch::Tensor fs = f.slice(0, 0, ns), fq = f.slice(0, ns);
  torch::Tensor labels = binary ? ep.support_y.to(torch::kInt64) : ep.support_y;
  const int64_t ways = binary ? 2 : labels.max().item<int64_t>() + 1;
  torch::Tensor sums = torch::zeros({ways, fs.size(1)}, fs.options()).index_add(0, labels, fs);
  torch::Tensor counts =
      torch::zeros({ways}, fs.options()).index_add(0, labels, torch::ones({ns}, fs.options()));
  // ||q - p||^2 for every (query, prototype) pair.
  torch::Tensor d =
      (fq.unsqueeze(1) - (sums / counts.clamp_min(1).unsqueeze(1)).unsqueeze(0)).pow(2).sum(2);
  if (!binary) return -d;
  // Preference: the logit of "positive" is the distance to the negatives'
  // prototype minus the distance to the positives'; with one label only, the
  // distance to that label's prototype (closer to positives, or farther
  // from negatives, ranks higher).
  torch::Tensor d0 = d.select(1, 0), d1 = d.select(1, 1);
  const bool neg = counts[0].item<double>() > 0, pos = counts[1].item<double>() > 0;
  return (neg && pos ? d0 - d1 : pos ? -d1 : d0).unsqueeze(1);
}

TaskStats ProtoNet::accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                             std::vector<torch::Tensor>& grad) const {
  torch::Tensor out = logits(theta, ep);
  torch::Tensor loss = task_loss(kind_, out, ep.query_y);
  add_into(grad, torch::autograd::grad({loss}, theta.tensors, {}, false, false, true));
  return stats(out, ep.query_y);
}

torch::Tensor ProtoNet::accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                           std::vector<torch::Tensor>& grad) const {
  const int64_t ns = b.sx.size(1);
  const bool binary = kind_ == TaskKind::kPreference;
  if (ns == 0) throw UserError("protonet: meta-training needs support items (task.shots >= 1)");
  torch::Tensor f = normalized(
      model_.features_batched(expand(theta, b), torch::cat({b.sx, b.qx}, 1), Mode::kTrain));
  torch::Tensor fs = f.slice(1, 0, ns), fq = f.slice(1, ns);
  torch::Tensor labels = binary ? b.sy.to(torch::kInt64) : b.sy;
  const int64_t ways = binary ? 2 : labels.max().item<int64_t>() + 1;
  torch::Tensor onehot = torch::one_hot(labels, ways).to(fs.scalar_type());  // [T, ns, ways]
  torch::Tensor counts = onehot.sum(1);                                      // [T, ways]
  torch::Tensor protos = torch::bmm(onehot.transpose(1, 2), fs) / counts.clamp_min(1).unsqueeze(2);
  torch::Tensor out = -(fq.unsqueeze(2) - protos.unsqueeze(1)).pow(2).sum(3);  // [T, nq, ways]
  if (binary) {  // as logits(): out holds minus the distances
    const auto type = out.scalar_type();
    torch::Tensor neg = counts.select(1, 0).gt(0).to(type).unsqueeze(1),
                  pos = counts.select(1, 1).gt(0).to(type).unsqueeze(1);
    torch::Tensor d0 = -out.select(2, 0), d1 = -out.select(2, 1);
    out = (neg * pos * (d0 - d1) + (1 - neg) * (-d1) + (1 - pos) * d0).unsqueeze(2);
  }
  add_into(grad,
           torch::autograd::grad({loss(out, b.qy, b)}, theta.tensors, {}, false, false, true));
  return out.detach();
}

torch::Tensor ProtoNet::predict(const Params& theta, const Episode& ep, uint64_t) const {
  torch::NoGradGuard ng;
  return logits(theta, ep);
}

}  // namespace metacat
