#include "learners/protonet.h"

#include <torch/csrc/autograd/autograd.h>

namespace metacat {

Params ProtoNet::init(uint64_t seed) const {
  // The head is never used: leave it out of the meta-parameters.
  return model_.init(seed).filter([](const std::string& n) { return !Model::is_head(n); });
}

torch::Tensor ProtoNet::logits(const Params& theta, const Episode& ep) const {
  const int64_t ns = ep.support_x.size(0);
  torch::Tensor f = model_.features(theta, torch::cat({ep.support_x, ep.query_x}), Mode::kTrain);
  torch::Tensor fs = f.slice(0, 0, ns), fq = f.slice(0, ns);
  const int64_t ways = ep.support_y.max().item<int64_t>() + 1;
  torch::Tensor sums = torch::zeros({ways, fs.size(1)}, fs.options()).index_add(0, ep.support_y, fs);
  torch::Tensor counts = torch::zeros({ways}, fs.options())
                             .index_add(0, ep.support_y, torch::ones({ns}, fs.options()));
  torch::Tensor protos = sums / counts.unsqueeze(1);
  // ||q - p||^2 for every (query, prototype) pair.
  return -(fq.unsqueeze(1) - protos.unsqueeze(0)).pow(2).sum(2);
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
  torch::Tensor f = model_.features_batched(expand(theta, b), torch::cat({b.sx, b.qx}, 1), Mode::kTrain);
  torch::Tensor fs = f.slice(1, 0, ns), fq = f.slice(1, ns);
  const int64_t ways = b.sy.max().item<int64_t>() + 1;
  torch::Tensor onehot = torch::one_hot(b.sy, ways).to(fs.scalar_type());  // [T, ns, ways]
  torch::Tensor protos = torch::bmm(onehot.transpose(1, 2), fs) / onehot.sum(1).unsqueeze(2);
  torch::Tensor out = -(fq.unsqueeze(2) - protos.unsqueeze(1)).pow(2).sum(3);  // [T, nq, ways]
  add_into(grad, torch::autograd::grad({loss(out, b.qy, b)}, theta.tensors, {}, false, false, true));
  return out.detach();
}

torch::Tensor ProtoNet::predict(const Params& theta, const Episode& ep, uint64_t) const {
  torch::NoGradGuard ng;
  return logits(theta, ep);
}

}  // namespace metacat
