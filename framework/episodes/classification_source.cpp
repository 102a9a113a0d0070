#include "episodes/classification_source.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace metacat {

namespace {
void combinations(const std::vector<int64_t>& pool, int64_t k, size_t start,
                  std::vector<int64_t>& cur, std::vector<std::vector<int64_t>>& out) {
  if (static_cast<int64_t>(cur.size()) == k) {
    out.push_back(cur);
    return;
  }
  for (size_t i = start; i < pool.size(); ++i) {
    cur.push_back(pool[i]);
    combinations(pool, k, i + 1, cur, out);
    cur.pop_back();
  }
}
}  // namespace

std::shared_ptr<MemoryStore> make_class_store(const LabeledItems& data,
                                              const std::vector<std::vector<int64_t>>& classes) {
  const int64_t n_classes = static_cast<int64_t>(data.class_names.size());
  std::vector<CategoryInfo> infos(n_classes);
  for (int64_t c = 0; c < n_classes; ++c) infos[c].name = data.class_names[c];
  for (size_t s = 0; s < classes.size(); ++s)
    for (int64_t c : classes[s]) {
      if (c < 0 || c >= n_classes)
        throw UserError("data: class " + std::to_string(c) + " does not exist (the data has " +
                        std::to_string(n_classes) + " classes)");
      if (infos[c].split != Split::kNone)
        throw UserError("data: class " + std::to_string(c) +
                        " is in more than one split; train/val/test classes must be disjoint");
      infos[c].split = static_cast<Split>(s);
    }
  std::vector<std::vector<int64_t>> rows(n_classes);
  for (size_t i = 0; i < data.labels.size(); ++i) rows.at(data.labels[i]).push_back(i);
  std::vector<torch::Tensor> items, labels;
  for (int64_t c = 0; c < n_classes; ++c) {
    items.push_back(data.items.index_select(0, torch::tensor(rows[c], torch::kInt64)));
    labels.push_back(torch::full({static_cast<int64_t>(rows[c].size())}, static_cast<float>(c)));
  }
  return std::make_shared<MemoryStore>(std::move(infos), std::move(items), std::move(labels));
}

ClassificationSource::ClassificationSource(std::shared_ptr<const ItemStore> store, int64_t ways)
    : store_(std::move(store)), ways_(ways) {
  classes_.resize(3);
  joint_index_.assign(store_->num_categories(), -1);
  for (int64_t c = 0; c < store_->num_categories(); ++c) {
    const Split s = store_->info(c).split;
    if (s == Split::kNone) continue;
    if (s == Split::kTrain) joint_index_[c] = static_cast<int64_t>(classes_[0].size());
    classes_[static_cast<int>(s)].push_back(c);
  }
  combos_.resize(3);
  for (int s = 0; s < 3; ++s) {
    const int64_t n = static_cast<int64_t>(classes_[s].size());
    if (n < ways_) continue;  // check() reports it when the split is used
    // C(n, ways) sources; refuse absurd counts rather than exhaust memory.
    double count = 1;
    for (int64_t i = 0; i < ways_; ++i) count = count * (n - i) / (i + 1);
    if (count > 2e6)
      throw UserError("data: " + std::to_string(n) + " classes give too many " +
                      std::to_string(ways_) + "-way class combinations; use fewer classes");
    std::vector<int64_t> cur;
    combinations(classes_[s], ways_, 0, cur, combos_[s]);
  }
}

const std::vector<std::vector<int64_t>>& ClassificationSource::combos(Split split) const {
  return combos_.at(static_cast<int>(split));
}

int64_t ClassificationSource::num_sources(Split split) const {
  return static_cast<int64_t>(combos(split).size());
}

void ClassificationSource::check(Split split, const EpisodeSpec& spec) const {
  const auto& cls = classes_.at(static_cast<int>(split));
  if (spec.shots < 1)
    throw UserError(
        "shots: classification episodes need at least 1 labelled item per class "
        "(zero-shot needs per-category preference tasks with descriptors)");
  if (spec.ways != ways_)
    throw UserError("episodes are " + std::to_string(spec.ways) +
                    "-way but the data was set up for " + std::to_string(ways_) +
                    "-way tasks (task.ways)");
  if (static_cast<int64_t>(cls.size()) < spec.ways)
    throw UserError("task.ways: " + std::to_string(spec.ways) + "-way episodes need " +
                    std::to_string(spec.ways) + " classes, but the " + to_string(split) +
                    " split has " + std::to_string(cls.size()));
  for (int64_t c : cls) {
    const int64_t have = store_->info(c).items;
    if (have < spec.shots + spec.queries)
      throw UserError("data: category " + std::to_string(c) + " (" + store_->info(c).name +
                      ") has " + std::to_string(have) + " items, fewer than shots + queries = " +
                      std::to_string(spec.shots + spec.queries));
  }
}

EpisodePlan ClassificationSource::plan(Split split, int64_t source, const EpisodeSpec& spec,
                                       Rng& rng) const {
  EpisodePlan p;
  p.source = source;
  p.categories = combos(split).at(source);
  rng.shuffle(p.categories);  // class p.categories[j] gets episode label j
  for (int64_t c : p.categories) {
    std::vector<int64_t> pick = rng.sample(store_->info(c).items, spec.shots + spec.queries);
    p.support_rows.insert(p.support_rows.end(), pick.begin(), pick.begin() + spec.shots);
    p.query_rows.insert(p.query_rows.end(), pick.begin() + spec.shots, pick.end());
  }
  return p;
}

Episode ClassificationSource::materialize(const EpisodePlan& p, const EpisodeSpec& spec) const {
  std::vector<torch::Tensor> sx, qx;
  std::vector<int64_t> s_lab, q_lab, s_joint, q_joint, q_cat;
  for (size_t j = 0; j < p.categories.size(); ++j) {
    const int64_t c = p.categories[j];
    std::vector<int64_t> rows(p.support_rows.begin() + j * spec.shots,
                              p.support_rows.begin() + (j + 1) * spec.shots);
    rows.insert(rows.end(), p.query_rows.begin() + j * spec.queries,
                p.query_rows.begin() + (j + 1) * spec.queries);
    torch::Tensor x = store_->gather(c, rows).items;
    sx.push_back(x.slice(0, 0, spec.shots));
    qx.push_back(x.slice(0, spec.shots));
    for (int64_t i = 0; i < spec.shots; ++i) {
      s_lab.push_back(j);
      s_joint.push_back(joint_index_[c]);
    }
    for (int64_t i = 0; i < spec.queries; ++i) {
      q_lab.push_back(j);
      q_joint.push_back(joint_index_[c]);
      q_cat.push_back(c);
    }
  }
  Episode e;
  e.support_x = to_model_input(torch::cat(sx), dtype_);
  e.query_x = to_model_input(torch::cat(qx), dtype_);
  e.support_y = torch::tensor(s_lab, torch::kInt64);
  e.query_y = torch::tensor(q_lab, torch::kInt64);
  e.support_joint = torch::tensor(s_joint, torch::kInt64);
  e.query_joint = torch::tensor(q_joint, torch::kInt64);
  e.query_category = torch::tensor(q_cat, torch::kInt64);
  e.source = p.source;
  return e;
}

void ClassificationSource::set_item_augment(ItemAugment mode, int64_t shift) {
  const auto shape = store_->item_shape();
  if (mode != ItemAugment::kNone && shape.size() != 3)
    throw UserError(
        "data.item_augment: flips and shifts are for images [channels, H, W]; these "
        "items are not (set data.item_augment: none)");
  item_augment_ = mode;
  item_shift_ = shift;
}

void ClassificationSource::augment_training_items(Episode& e, Rng& rng) const {
  if (item_augment_ == ItemAugment::kNone) return;
  e.support_x = augment_items(e.support_x, item_augment_, item_shift_, rng);
  e.query_x = augment_items(e.query_x, item_augment_, item_shift_, rng);
}

Episode ClassificationSource::draw(Split split, int64_t source, const EpisodeSpec& spec,
                                   Rng& rng) const {
  return materialize(plan(split, source, spec, rng), spec);
}

void ClassificationSource::check_plan(const EpisodePlan& p, Split split,
                                      const EpisodeSpec& spec) const {
  if (static_cast<int64_t>(p.categories.size()) != spec.ways)
    throw UserError("stored episode has " + std::to_string(p.categories.size()) +
                    " categories, expected " + std::to_string(spec.ways));
  for (size_t j = 0; j < p.categories.size(); ++j) {
    const int64_t c = p.categories[j];
    if (c < 0 || c >= store_->num_categories() || store_->info(c).split != split)
      throw UserError("stored episode uses category " + std::to_string(c) +
                      ", which is not in the " + to_string(split) + " split of this data");
    const int64_t n = store_->info(c).items;
    for (int64_t i = 0; i < spec.shots; ++i)
      if (p.support_rows.at(j * spec.shots + i) >= n)
        throw UserError("stored episode row out of range for category " + store_->info(c).name);
    for (int64_t i = 0; i < spec.queries; ++i)
      if (p.query_rows.at(j * spec.queries + i) >= n)
        throw UserError("stored episode row out of range for category " + store_->info(c).name);
  }
}

std::string ClassificationSource::source_name(Split split, int64_t source) const {
  std::string s;
  for (int64_t c : combos(split).at(source)) s += (s.empty() ? "" : "+") + std::to_string(c);
  return s;
}

int64_t ClassificationSource::joint_outputs() const {
  return static_cast<int64_t>(classes_[0].size());
}

std::string ClassificationSource::describe() const {
  int64_t items = 0;
  for (int64_t c = 0; c < store_->num_categories(); ++c) items += store_->info(c).items;
  return std::to_string(items) + " items (" + store_->describe() + "), " +
         std::to_string(classes_[0].size()) + "/" + std::to_string(classes_[1].size()) + "/" +
         std::to_string(classes_[2].size()) + " train/val/test classes, " +
         std::to_string(combos_[0].size()) + " training " + std::to_string(ways_) + "-way sources";
}

}  // namespace metacat
