#include "episodes/preference_source.h"

#include "core/error.h"

namespace metacat {

PreferenceSource::PreferenceSource(std::shared_ptr<const Catalogue> c) : catalogue_(std::move(c)) {
  by_split_.resize(3);
  for (size_t i = 0; i < catalogue_->split.size(); ++i)
    by_split_.at(static_cast<int>(catalogue_->split[i])).push_back(static_cast<int64_t>(i));
}

int64_t PreferenceSource::num_sources(Split split) const {
  return static_cast<int64_t>(by_split_[static_cast<int>(split)].size());
}

int64_t PreferenceSource::category(Split split, int64_t source) const {
  return by_split_[static_cast<int>(split)].at(source);
}

void PreferenceSource::check(Split split, const EpisodeSpec& spec) const {
  const auto& cats = by_split_[static_cast<int>(split)];
  if (cats.empty())
    throw UserError(std::string("data: the ") + to_string(split) + " split has no categories");
  for (int64_t c : cats) {
    const int64_t have = catalogue_->items[c].size(0);
    if (have < spec.shots + spec.queries)
      throw UserError("data: category " + catalogue_->names[c] + " has " + std::to_string(have) +
                      " items, fewer than shots + queries = " +
                      std::to_string(spec.shots + spec.queries));
  }
}

Episode PreferenceSource::draw(Split split, int64_t source, const EpisodeSpec& spec,
                               Rng& rng) const {
  const int64_t c = category(split, source);
  const torch::Tensor& x = catalogue_->items[c];
  const torch::Tensor& y = catalogue_->labels[c];
  std::vector<int64_t> pick = rng.sample(x.size(0), spec.shots + spec.queries);
  torch::Tensor all = torch::tensor(pick, torch::kInt64);
  torch::Tensor s = all.slice(0, 0, spec.shots), q = all.slice(0, spec.shots);
  Episode e;
  e.support_x = x.index_select(0, s).to(dtype_);
  e.support_y = y.index_select(0, s).to(dtype_);
  e.query_x = x.index_select(0, q).to(dtype_);
  e.query_y = y.index_select(0, q).to(dtype_);
  e.query_category = torch::full({spec.queries}, c, torch::kInt64);
  e.source = source;
  return e;
}

std::string PreferenceSource::category_name(int64_t id) const { return catalogue_->names.at(id); }

std::string PreferenceSource::source_name(Split split, int64_t source) const {
  return catalogue_->names.at(category(split, source));
}

std::string PreferenceSource::describe() const {
  return std::to_string(catalogue_->names.size()) + " categories (" +
         std::to_string(num_sources(Split::kTrain)) + "/" + std::to_string(num_sources(Split::kVal)) +
         "/" + std::to_string(num_sources(Split::kTest)) + " train/val/test), " +
         std::to_string(catalogue_->feature_dim) + " item features";
}

}  // namespace metacat
