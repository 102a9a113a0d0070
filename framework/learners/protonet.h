#pragma once
// Prototypical Networks (Snell et al. 2017): the body embeds support and
// query items (in one batch), a class prototype is the mean support
// embedding, and the logits are minus squared Euclidean distances to the
// prototypes. No inner loop; the model's head is unused. Preference tasks
// are two classes (negative, positive): the logit is the difference of the
// two distances (with one label in the support set, the distance to its
// prototype). learner.embedding_norm can centre the episode's embeddings and
// put them on a sphere first (as in SimpleShot, Wang et al. 2019, with the
// episode's own mean where SimpleShot takes the training classes').
#include "learners/learner.h"

namespace metacat {

class ProtoNet : public Learner {
 public:
  using Learner::Learner;
  Params init(uint64_t seed) const override;
  TaskStats accumulate_meta_gradient(const Params& theta, const Episode& ep,
                                     std::vector<torch::Tensor>& grad) const override;
  torch::Tensor predict(const Params& theta, const Episode& ep, uint64_t seed) const override;
  torch::Tensor logits(const Params& theta, const Episode& ep) const;
  // learner.embedding_norm applied to one episode's embeddings [..., items, dim].
  torch::Tensor normalized(torch::Tensor f) const;

 protected:
  // Batched: the body runs on all tasks' items at once (shared parameters
  // expanded over tasks, so batch norm keeps per-task statistics), and the
  // prototypes are one batched product with the support labels' one-hot.
  bool supports_batched() const override { return true; }
  torch::Tensor accumulate_batched(const Params& theta, const EpisodeBatch& b,
                                   std::vector<torch::Tensor>& grad) const override;
};

}  // namespace metacat
