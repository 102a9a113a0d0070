#pragma once
// Per-category binary preference tasks: a task source is one category; an
// episode is K labelled interactions (support) and Q more (query) drawn from
// that category's items, labels 0/1 (click/purchase).
#include "datasets/synthetic_catalogue.h"
#include "episodes/task_source.h"

namespace metacat {

class PreferenceSource : public TaskSource {
 public:
  explicit PreferenceSource(std::shared_ptr<const Catalogue> catalogue);
  TaskKind kind() const override { return TaskKind::kPreference; }
  std::vector<int64_t> input_shape() const override { return {catalogue_->feature_dim}; }
  int64_t num_sources(Split split) const override;
  Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  void check(Split split, const EpisodeSpec& spec) const override;
  std::string category_name(int64_t id) const override;
  std::string source_name(Split split, int64_t source) const override;
  std::string describe() const override;
  // Category id of a source.
  int64_t category(Split split, int64_t source) const;

 private:
  std::shared_ptr<const Catalogue> catalogue_;
  std::vector<std::vector<int64_t>> by_split_;
};

}  // namespace metacat
