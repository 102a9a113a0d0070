#pragma once
// ShardStore: an ItemStore over a sharded HDF5 dataset.
//
// Opening reads only the manifest. A shard is opened the first time one of
// its categories is read, after checking that it exists and has the size the
// manifest records (a truncated or replaced shard is refused with its name),
// so a rank that reads only its own categories opens only their shards.
// Whole categories that fit are kept in an LRU cache bounded by
// `cache_bytes`; rows of categories too large to cache are read directly
// (hyperslab selection: only the chunks holding them). A category's optional
// `oracle` dataset (the true model's scores, written when packing a synthetic
// catalogue) is read with its rows when present; shards without it load as
// before. Data packed with a schema also has `codes` (int32), checked
// against each field's vocabulary and appended to the numeric columns as
// exact float32 (core/fields.h). Thread-safe.
#include <list>
#include <mutex>
#include <unordered_map>

#include "data/h5.h"
#include "data/manifest.h"
#include "episodes/item_store.h"

namespace metacat {

struct ReaderOptions {
  int64_t cache_bytes = 1ll << 30;
};

struct ReaderStats {
  int64_t hits = 0, misses = 0, direct_reads = 0, evictions = 0;
  int64_t cached_bytes = 0, peak_cached_bytes = 0;
  int64_t shards_opened = 0;
};

class ShardStore : public ItemStore {
 public:
  ShardStore(std::string dir, ReaderOptions opt = {});
  int64_t num_categories() const override { return manifest_.num_categories(); }
  const CategoryInfo& info(int64_t c) const override { return infos_.at(c); }
  // With a schema: the numeric columns and the codes, [numeric + codes].
  std::vector<int64_t> item_shape() const override;
  std::vector<InputField> fields() const override { return manifest_.fields; }
  Rows gather(int64_t category, const std::vector<int64_t>& rows) const override;
  torch::Tensor descriptors() const override { return manifest_.descriptors; }
  // Whether the shards carry `oracle` datasets (every category of a pack
  // does or none does): looked up in the first category's group, which opens
  // its shard the first time it is asked.
  bool has_oracle() const override;
  std::string describe() const override;

  const Manifest& manifest() const { return manifest_; }
  uint64_t manifest_checksum() const { return manifest_checksum_; }
  ReaderStats stats() const;
  // Whole category (not cached), checked against the manifest.
  Rows read_category(int64_t category) const;

 private:
  hid_t shard(int64_t s) const;  // caller holds mu_
  Rows read_locked(int64_t category, const std::vector<int64_t>* rows) const;

  std::string dir_;
  ReaderOptions opt_;
  Manifest manifest_;
  uint64_t manifest_checksum_ = 0;
  std::vector<CategoryInfo> infos_;

  mutable std::mutex mu_;
  mutable std::unordered_map<int64_t, h5::Handle> shards_;
  mutable std::list<int64_t> lru_;  // front = most recent
  struct Entry {
    Rows rows;
    int64_t bytes;
    std::list<int64_t>::iterator pos;
  };
  mutable std::unordered_map<int64_t, Entry> cache_;
  mutable ReaderStats stats_;
  mutable int has_oracle_ = -1;  // -1: not looked up yet
};

// Problems found by re-hashing every shard and checking every category's
// datasets against the manifest; empty when the dataset is sound.
std::vector<std::string> verify_dataset(const std::string& dir, bool progress);

}  // namespace metacat
