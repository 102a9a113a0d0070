#include "episodes/item_store.h"

#include "core/error.h"

namespace metacat {

MemoryStore::MemoryStore(std::vector<CategoryInfo> infos, std::vector<torch::Tensor> items,
                         std::vector<torch::Tensor> labels, torch::Tensor descriptors,
                         std::vector<torch::Tensor> oracle)
    : infos_(std::move(infos)),
      items_(std::move(items)),
      labels_(std::move(labels)),
      oracle_(std::move(oracle)),
      descriptors_(std::move(descriptors)) {
  if (items_.size() != infos_.size() || labels_.size() != infos_.size())
    throw std::logic_error("MemoryStore: categories, items and labels differ in length");
  if (!oracle_.empty() && oracle_.size() != infos_.size())
    throw std::logic_error("MemoryStore: categories and oracle scores differ in length");
  for (size_t c = 0; c < infos_.size(); ++c) {
    infos_[c].items = items_[c].size(0);
    if (!oracle_.empty() && (oracle_[c].dim() != 1 || oracle_[c].size(0) != infos_[c].items))
      throw std::logic_error("MemoryStore: category " + infos_[c].name +
                             " does not have one oracle score per item");
  }
}

std::vector<int64_t> MemoryStore::item_shape() const {
  auto s = items_.at(0).sizes().vec();
  s.erase(s.begin());
  return s;
}

Rows MemoryStore::gather(int64_t c, const std::vector<int64_t>& rows) const {
  torch::Tensor idx = torch::tensor(rows, torch::kInt64);
  Rows r{items_.at(c).index_select(0, idx), labels_.at(c).index_select(0, idx), {}, {}};
  if (!oracle_.empty()) r.oracle = oracle_.at(c).index_select(0, idx);
  r.item_ids = idx + (c << 32);  // rows of different categories are different items
  return r;
}

torch::Tensor to_model_input(const torch::Tensor& items, torch::Dtype dtype) {
  if (items.scalar_type() == torch::kUInt8) return items.to(dtype).div_(255.0);
  return items.to(dtype);
}

}  // namespace metacat
