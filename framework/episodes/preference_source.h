#pragma once
// Per-category binary preference tasks: a task source is one category; an
// episode is K labelled interactions (support) and Q more (query) drawn from
// that category's items, labels 0/1 (click/purchase).
#include "episodes/item_store.h"

namespace metacat {

class PreferenceSource : public TaskSource {
 public:
  explicit PreferenceSource(std::shared_ptr<const ItemStore> store);
  TaskKind kind() const override { return TaskKind::kPreference; }
  std::vector<int64_t> input_shape() const override { return store_->item_shape(); }
  int64_t num_sources(Split split) const override;
  Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  EpisodePlan plan(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  Episode materialize(const EpisodePlan& plan, const EpisodeSpec& spec) const override;
  void check_plan(const EpisodePlan& plan, Split split, const EpisodeSpec& spec) const override;
  void check(Split split, const EpisodeSpec& spec) const override;
  std::string category_name(int64_t id) const override { return store_->info(id).name; }
  std::string source_name(Split split, int64_t source) const override;
  std::string describe() const override;
  uint64_t data_checksum() const override { return checksum_; }
  int64_t descriptor_dim() const override;
  bool has_oracle() const override { return store_->has_oracle(); }
  std::vector<InputField> fields() const override { return store_->fields(); }
  void set_data_checksum(uint64_t c) { checksum_ = c; }
  // data.id_dropout: in meta-training episodes (augment_training_items),
  // each row's item id is replaced by the out-of-vocabulary code with
  // probability q (DropoutNet), drawn from the episode's stream, so the
  // model also learns to score items by their other columns, as it must
  // for items no training task shows. Throws UserError when q > 0 and the
  // data has no item column (packed without a schema, or none declared).
  void set_id_dropout(double q);
  void augment_training_items(Episode& e, Rng& rng) const override;
  // Category id of a source.
  int64_t category(Split split, int64_t source) const;
  const ItemStore& store() const { return *store_; }

 private:
  std::shared_ptr<const ItemStore> store_;
  std::vector<std::vector<int64_t>> by_split_;
  uint64_t checksum_ = 0;
  double id_dropout_ = 0;
  int64_t item_column_ = -1;  // the item column's offset in a row, with id_dropout_ > 0
};

}  // namespace metacat
