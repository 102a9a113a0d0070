#pragma once
// N-way K-shot classification over labelled items (e.g. Fashion-MNIST).
// Task sources are the combinations of `ways` classes of a split, in
// lexicographic order; an episode relabels its classes in a random order.
#include "episodes/task_source.h"

namespace metacat {

struct LabeledItems {
  torch::Tensor items;               // [N, ...] uint8 (scaled by 1/255) or float
  std::vector<int64_t> labels;       // N class ids
  std::vector<std::string> class_names;  // by class id
};

class ClassificationSource : public TaskSource {
 public:
  // classes[split]: the class ids of that split (disjoint across splits).
  ClassificationSource(LabeledItems data, std::vector<std::vector<int64_t>> classes,
                       int64_t ways);
  TaskKind kind() const override { return TaskKind::kClassification; }
  std::vector<int64_t> input_shape() const override;
  int64_t num_sources(Split split) const override;
  Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  void check(Split split, const EpisodeSpec& spec) const override;
  std::string category_name(int64_t id) const override;
  std::string source_name(Split split, int64_t source) const override;
  int64_t joint_outputs() const override;
  std::string describe() const override;

 private:
  const std::vector<std::vector<int64_t>>& combos(Split split) const;
  LabeledItems data_;
  std::vector<std::vector<int64_t>> classes_;
  std::vector<std::vector<int64_t>> by_class_;  // item indices per class id
  std::vector<std::vector<std::vector<int64_t>>> combos_;  // per split
  int64_t ways_;
};

}  // namespace metacat
