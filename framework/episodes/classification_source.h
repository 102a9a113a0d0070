#pragma once
// N-way K-shot classification over an ItemStore whose categories are classes
// (e.g. Fashion-MNIST product categories). Task sources are the combinations
// of `ways` classes of a split, in lexicographic order; an episode relabels
// its classes in a random order.
#include "episodes/augment.h"
#include "episodes/item_store.h"

namespace metacat {

// Labelled items held in memory, e.g. freshly read idx files.
struct LabeledItems {
  torch::Tensor items;                   // [N, ...] uint8 or float
  std::vector<int64_t> labels;           // N class ids
  std::vector<std::string> class_names;  // by class id
};

// One category per class; classes[split] lists the class ids of each split
// (train, val, test), which must be disjoint. Other classes get Split::kNone.
std::shared_ptr<MemoryStore> make_class_store(const LabeledItems& data,
                                              const std::vector<std::vector<int64_t>>& classes);

class ClassificationSource : public TaskSource {
 public:
  ClassificationSource(std::shared_ptr<const ItemStore> store, int64_t ways);
  TaskKind kind() const override { return TaskKind::kClassification; }
  std::vector<int64_t> input_shape() const override { return store_->item_shape(); }
  int64_t num_sources(Split split) const override;
  Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  EpisodePlan plan(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  Episode materialize(const EpisodePlan& plan, const EpisodeSpec& spec) const override;
  void check_plan(const EpisodePlan& plan, Split split, const EpisodeSpec& spec) const override;
  void check(Split split, const EpisodeSpec& spec) const override;
  std::string category_name(int64_t id) const override { return store_->info(id).name; }
  std::string source_name(Split split, int64_t source) const override;
  int64_t joint_outputs() const override;
  std::string describe() const override;
  uint64_t data_checksum() const override { return checksum_; }
  void set_data_checksum(uint64_t c) { checksum_ = c; }
  // data.item_augment: applied to meta-training episodes (image items only).
  void set_item_augment(ItemAugment mode, int64_t shift);
  void augment_training_items(Episode& e, Rng& rng) const override;

 private:
  const std::vector<std::vector<int64_t>>& combos(Split split) const;
  std::shared_ptr<const ItemStore> store_;
  std::vector<std::vector<int64_t>> classes_;  // category ids per split
  std::vector<int64_t> joint_index_;           // category -> index among train classes, or -1
  std::vector<std::vector<std::vector<int64_t>>> combos_;  // per split
  int64_t ways_;
  uint64_t checksum_ = 0;
  ItemAugment item_augment_ = ItemAugment::kNone;
  int64_t item_shift_ = 0;
};

}  // namespace metacat
