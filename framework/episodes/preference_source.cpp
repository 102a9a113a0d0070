#include "episodes/preference_source.h"

#include "core/error.h"

namespace metacat {

PreferenceSource::PreferenceSource(std::shared_ptr<const ItemStore> store)
    : store_(std::move(store)) {
  by_split_.resize(3);
  for (int64_t c = 0; c < store_->num_categories(); ++c) {
    const Split s = store_->info(c).split;
    if (s != Split::kNone) by_split_[static_cast<int>(s)].push_back(c);
  }
}

int64_t PreferenceSource::num_sources(Split split) const {
  return static_cast<int64_t>(by_split_.at(static_cast<int>(split)).size());
}

int64_t PreferenceSource::category(Split split, int64_t source) const {
  return by_split_.at(static_cast<int>(split)).at(source);
}

void PreferenceSource::check(Split split, const EpisodeSpec& spec) const {
  const auto& cats = by_split_.at(static_cast<int>(split));
  if (cats.empty())
    throw UserError(std::string("data: the ") + to_string(split) + " split has no categories");
  for (int64_t c : cats) {
    const int64_t have = store_->info(c).items;
    if (have < spec.shots + spec.queries)
      throw UserError(
          "data: category " + store_->info(c).name + " has " + std::to_string(have) +
          " items, fewer than shots + queries = " + std::to_string(spec.shots + spec.queries));
  }
}

EpisodePlan PreferenceSource::plan(Split split, int64_t source, const EpisodeSpec& spec,
                                   Rng& rng) const {
  EpisodePlan p;
  p.source = source;
  const int64_t c = category(split, source);
  p.categories = {c};
  std::vector<int64_t> pick = rng.sample(store_->info(c).items, spec.shots + spec.queries);
  p.support_rows.assign(pick.begin(), pick.begin() + spec.shots);
  p.query_rows.assign(pick.begin() + spec.shots, pick.end());
  return p;
}

Episode PreferenceSource::materialize(const EpisodePlan& p, const EpisodeSpec& spec) const {
  const int64_t c = p.categories.at(0);
  std::vector<int64_t> rows = p.support_rows;
  rows.insert(rows.end(), p.query_rows.begin(), p.query_rows.end());
  Rows r = store_->gather(c, rows);
  Episode e;
  e.support_x = to_model_input(r.items.slice(0, 0, spec.shots), dtype_);
  e.query_x = to_model_input(r.items.slice(0, spec.shots), dtype_);
  e.support_y = r.labels.slice(0, 0, spec.shots).to(dtype_);
  e.query_y = r.labels.slice(0, spec.shots).to(dtype_);
  e.query_category = torch::full({spec.queries}, c, torch::kInt64);
  const torch::Tensor& d = store_->descriptors();
  if (d.defined()) e.descriptor = d[c].to(dtype_);
  if (r.oracle.defined()) e.query_oracle = r.oracle.slice(0, spec.shots).to(dtype_);
  if (r.item_ids.defined()) e.query_item = r.item_ids.slice(0, spec.shots);
  e.source = p.source;
  return e;
}

void PreferenceSource::set_id_dropout(double q) {
  if (!(q >= 0 && q <= 1)) throw UserError("data.id_dropout: " + std::to_string(q) + " (0 to 1)");
  id_dropout_ = q;
  if (q == 0) return;
  const auto fields = store_->fields();
  const InputField* item = item_field(fields);
  if (!item)
    throw UserError(
        "data.id_dropout: the data has no item column (pack it with a schema that declares one "
        "with role: item), so there is no id to drop");
  item_column_ = item->offset;
}

void PreferenceSource::augment_training_items(Episode& e, Rng& rng) const {
  if (id_dropout_ == 0) return;
  // Copies, so that the store's rows stay as they are whatever gather()
  // returns (today its own copies).
  for (torch::Tensor* x : {&e.support_x, &e.query_x}) {
    std::vector<uint8_t> drop(static_cast<size_t>(x->size(0)));
    for (auto& d : drop) d = rng.uniform() < id_dropout_;
    *x = x->clone();
    x->select(1, item_column_)
        .masked_fill_(torch::from_blob(drop.data(), {x->size(0)}, torch::kUInt8).to(torch::kBool),
                      static_cast<double>(kOovCode));
  }
}

Episode PreferenceSource::draw(Split split, int64_t source, const EpisodeSpec& spec,
                               Rng& rng) const {
  return materialize(plan(split, source, spec, rng), spec);
}

void PreferenceSource::check_plan(const EpisodePlan& p, Split split,
                                  const EpisodeSpec& spec) const {
  if (p.categories.size() != 1)
    throw UserError("stored preference episode must name exactly one category");
  const int64_t c = p.categories[0];
  if (c < 0 || c >= store_->num_categories() || store_->info(c).split != split)
    throw UserError("stored episode uses category " + std::to_string(c) + ", which is not in the " +
                    to_string(split) + " split of this data");
  const int64_t n = store_->info(c).items;
  if (static_cast<int64_t>(p.support_rows.size()) != spec.shots ||
      static_cast<int64_t>(p.query_rows.size()) != spec.queries)
    throw UserError("stored episode has the wrong number of rows");
  for (int64_t r : p.support_rows)
    if (r < 0 || r >= n)
      throw UserError("stored episode row out of range for category " + store_->info(c).name);
  for (int64_t r : p.query_rows)
    if (r < 0 || r >= n)
      throw UserError("stored episode row out of range for category " + store_->info(c).name);
}

int64_t PreferenceSource::descriptor_dim() const {
  const torch::Tensor& d = store_->descriptors();
  return d.defined() ? d.size(1) : 0;
}

std::string PreferenceSource::source_name(Split split, int64_t source) const {
  return store_->info(category(split, source)).name;
}

std::string PreferenceSource::describe() const {
  return std::to_string(store_->num_categories()) + " categories (" +
         std::to_string(num_sources(Split::kTrain)) + "/" +
         std::to_string(num_sources(Split::kVal)) + "/" +
         std::to_string(num_sources(Split::kTest)) + " train/val/test, " + store_->describe() + ")";
}

}  // namespace metacat
