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

ClassificationSource::ClassificationSource(LabeledItems data,
                                           std::vector<std::vector<int64_t>> classes, int64_t ways)
    : data_(std::move(data)), classes_(std::move(classes)), ways_(ways) {
  classes_.resize(3);
  const int64_t n_classes = static_cast<int64_t>(data_.class_names.size());
  std::set<int64_t> seen;
  for (int s = 0; s < 3; ++s) {
    for (int64_t c : classes_[s]) {
      if (c < 0 || c >= n_classes)
        throw UserError("data: class " + std::to_string(c) + " does not exist (the data has " +
                        std::to_string(n_classes) + " classes)");
      if (!seen.insert(c).second)
        throw UserError("data: class " + std::to_string(c) +
                        " is in more than one split; train/val/test classes must be disjoint");
    }
  }
  by_class_.assign(n_classes, {});
  for (size_t i = 0; i < data_.labels.size(); ++i) by_class_[data_.labels[i]].push_back(i);
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

std::vector<int64_t> ClassificationSource::input_shape() const {
  auto s = data_.items.sizes().vec();
  s.erase(s.begin());
  return s;
}

const std::vector<std::vector<int64_t>>& ClassificationSource::combos(Split split) const {
  return combos_[static_cast<int>(split)];
}

int64_t ClassificationSource::num_sources(Split split) const {
  return static_cast<int64_t>(combos(split).size());
}

void ClassificationSource::check(Split split, const EpisodeSpec& spec) const {
  const auto& cls = classes_[static_cast<int>(split)];
  if (spec.ways != ways_)
    throw std::logic_error("episode ways differ from the source's combinations");
  if (static_cast<int64_t>(cls.size()) < spec.ways)
    throw UserError("task.ways: " + std::to_string(spec.ways) + "-way episodes need " +
                    std::to_string(spec.ways) + " classes, but the " + to_string(split) +
                    " split has " + std::to_string(cls.size()));
  for (int64_t c : cls) {
    const int64_t have = static_cast<int64_t>(by_class_[c].size());
    if (have < spec.shots + spec.queries)
      throw UserError("data: class " + std::to_string(c) + " (" + data_.class_names[c] + ") has " +
                      std::to_string(have) + " items, fewer than shots + queries = " +
                      std::to_string(spec.shots + spec.queries));
  }
}

Episode ClassificationSource::draw(Split split, int64_t source, const EpisodeSpec& spec,
                                   Rng& rng) const {
  std::vector<int64_t> cls = combos(split).at(source);
  rng.shuffle(cls);  // class c gets episode label j
  const int64_t n = spec.shots + spec.queries;
  std::vector<int64_t> s_idx, q_idx, s_lab, q_lab, s_joint, q_joint, q_cat;
  const auto& train = classes_[0];
  for (int64_t j = 0; j < spec.ways; ++j) {
    const auto& pool = by_class_[cls[j]];
    std::vector<int64_t> pick = rng.sample(static_cast<int64_t>(pool.size()), n);
    auto it = std::find(train.begin(), train.end(), cls[j]);
    const int64_t joint = it == train.end() ? -1 : static_cast<int64_t>(it - train.begin());
    for (int64_t i = 0; i < n; ++i) {
      const bool support = i < spec.shots;
      (support ? s_idx : q_idx).push_back(pool[pick[i]]);
      (support ? s_lab : q_lab).push_back(j);
      (support ? s_joint : q_joint).push_back(joint);
      if (!support) q_cat.push_back(cls[j]);
    }
  }
  auto gather = [&](const std::vector<int64_t>& idx) {
    torch::Tensor x = data_.items.index_select(0, torch::tensor(idx, torch::kInt64));
    if (x.scalar_type() == torch::kUInt8) return x.to(dtype_).div_(255.0);
    return x.to(dtype_);
  };
  Episode e;
  e.support_x = gather(s_idx);
  e.query_x = gather(q_idx);
  e.support_y = torch::tensor(s_lab, torch::kInt64);
  e.query_y = torch::tensor(q_lab, torch::kInt64);
  e.support_joint = torch::tensor(s_joint, torch::kInt64);
  e.query_joint = torch::tensor(q_joint, torch::kInt64);
  e.query_category = torch::tensor(q_cat, torch::kInt64);
  e.source = source;
  return e;
}

std::string ClassificationSource::category_name(int64_t id) const {
  return data_.class_names.at(id);
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
  return std::to_string(data_.labels.size()) + " items, " + std::to_string(classes_[0].size()) +
         "/" + std::to_string(classes_[1].size()) + "/" + std::to_string(classes_[2].size()) +
         " train/val/test classes, " + std::to_string(combos_[0].size()) + " training " +
         std::to_string(ways_) + "-way sources";
}

}  // namespace metacat
