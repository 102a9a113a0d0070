#pragma once
// ItemStore: the categories of a dataset and random access to their rows.
//
// A category is a class (classification data) or a task (per-category
// preference data). Implementations: MemoryStore (everything in memory, for
// small data and tests) and data/ShardStore (sharded HDF5, LRU cache).
// gather() may be called from several threads at once.
#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/fields.h"
#include "episodes/task_source.h"

namespace metacat {

struct CategoryInfo {
  std::string name;
  Split split = Split::kNone;
  int64_t items = 0;
};

struct Rows {
  torch::Tensor items;   // [n, item_shape...] in the stored dtype
  torch::Tensor labels;  // [n] float32
  // [n] float32: the true model's score of each item (the synthetic
  // catalogue's z); undefined when the data does not know it.
  torch::Tensor oracle;
  // [n] int64: each row's item id (the shards' `item_ids`; in memory,
  // category << 32 | row), the item's identity for catalogue coverage.
  torch::Tensor item_ids;
};

class ItemStore {
 public:
  virtual ~ItemStore() = default;
  virtual int64_t num_categories() const = 0;
  virtual const CategoryInfo& info(int64_t category) const = 0;
  virtual std::vector<int64_t> item_shape() const = 0;
  // Rows `rows` of `category`, in that order. Throws UserError naming the
  // file, category and dataset when the data is missing or inconsistent.
  virtual Rows gather(int64_t category, const std::vector<int64_t>& rows) const = 0;
  // [num_categories, D] descriptor vectors, or undefined when there are none.
  virtual torch::Tensor descriptors() const { return {}; }
  // Whether gather() returns the true model's scores (Rows::oracle): only
  // data generated from a known model (the synthetic catalogue) has them.
  virtual bool has_oracle() const { return false; }
  // Tabular data packed with a schema: the layout of an item in the model
  // input (core/fields.h); empty for untyped items.
  virtual std::vector<InputField> fields() const { return {}; }
  virtual std::string describe() const = 0;
};

class MemoryStore : public ItemStore {
 public:
  // oracle: per category [n] true scores, or empty when unknown.
  MemoryStore(std::vector<CategoryInfo> infos, std::vector<torch::Tensor> items,
              std::vector<torch::Tensor> labels, torch::Tensor descriptors = {},
              std::vector<torch::Tensor> oracle = {});
  int64_t num_categories() const override { return static_cast<int64_t>(infos_.size()); }
  const CategoryInfo& info(int64_t c) const override { return infos_.at(c); }
  std::vector<int64_t> item_shape() const override;
  Rows gather(int64_t category, const std::vector<int64_t>& rows) const override;
  torch::Tensor descriptors() const override { return descriptors_; }
  bool has_oracle() const override { return !oracle_.empty(); }
  std::string describe() const override { return "in memory"; }
  std::vector<InputField> fields() const override { return fields_; }
  // The items' layout, for rows built like a schema's (default: untyped).
  void set_fields(std::vector<InputField> f) { fields_ = std::move(f); }
  // Whole-category access (packing reads categories through this).
  const torch::Tensor& items(int64_t c) const { return items_.at(c); }
  const torch::Tensor& labels(int64_t c) const { return labels_.at(c); }

 private:
  std::vector<CategoryInfo> infos_;
  std::vector<torch::Tensor> items_, labels_, oracle_;
  torch::Tensor descriptors_;
  std::vector<InputField> fields_;
};

// Converts stored items to model input: uint8 scaled by 1/255, others cast.
torch::Tensor to_model_input(const torch::Tensor& items, torch::Dtype dtype);

}  // namespace metacat
