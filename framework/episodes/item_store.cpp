#include "episodes/item_store.h"

#include "core/error.h"

namespace metacat {

MemoryStore::MemoryStore(std::vector<CategoryInfo> infos, std::vector<torch::Tensor> items,
                         std::vector<torch::Tensor> labels, torch::Tensor descriptors)
    : infos_(std::move(infos)),
      items_(std::move(items)),
      labels_(std::move(labels)),
      descriptors_(std::move(descriptors)) {
  if (items_.size() != infos_.size() || labels_.size() != infos_.size())
    throw std::logic_error("MemoryStore: categories, items and labels differ in length");
  for (size_t c = 0; c < infos_.size(); ++c) infos_[c].items = items_[c].size(0);
}

std::vector<int64_t> MemoryStore::item_shape() const {
  auto s = items_.at(0).sizes().vec();
  s.erase(s.begin());
  return s;
}

Rows MemoryStore::gather(int64_t c, const std::vector<int64_t>& rows) const {
  torch::Tensor idx = torch::tensor(rows, torch::kInt64);
  return {items_.at(c).index_select(0, idx), labels_.at(c).index_select(0, idx)};
}

torch::Tensor to_model_input(const torch::Tensor& items, torch::Dtype dtype) {
  if (items.scalar_type() == torch::kUInt8) return items.to(dtype).div_(255.0);
  return items.to(dtype);
}

}  // namespace metacat
