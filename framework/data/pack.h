#pragma once
// Writing a sharded dataset: categories in id order, a category never spans
// two shards, shards balanced by (uncompressed) bytes as contiguous runs of
// categories, each shard written to a temporary name, fsynced and renamed;
// the manifest last. A pack that stops half way leaves no manifest, so it
// can never be mistaken for a whole dataset.
#include <functional>
#include <string>

#include "data/manifest.h"

namespace metacat {

struct PackOptions {
  std::string out;
  int64_t shard_bytes = 256ll << 20;  // target uncompressed bytes per shard
  int64_t shards = 0;                 // if > 0, exactly this many shards
  int compression = 4;                // deflate level 0..9
  int64_t chunk_bytes = 64 << 10;     // target bytes per chunk of `items`
  bool force = false;                 // replace an existing dataset in `out`
  bool progress = true;               // progress lines on stdout
};

struct CategoryRows {
  torch::Tensor items;     // [n, item_shape...] in the manifest dtype
  torch::Tensor labels;    // [n] float32
  torch::Tensor item_ids;  // [n] int64
  // [n] float32: the true model's score of each item (synthetic data);
  // written as the optional dataset `oracle` when defined.
  torch::Tensor oracle;
  // [n, K] int32: the coded columns of data packed with a schema (K the
  // manifest's code_width()); undefined otherwise.
  torch::Tensor codes;
};

struct PackSummary {
  int64_t categories = 0, items = 0, shards = 0;
  int64_t raw_bytes = 0, file_bytes = 0;
  double seconds = 0;
};

// Every category's rows are written as /categories/<id>/{items, labels,
// item_ids} and, when the producer gives them, `oracle` and `codes`.
// `header` holds everything but the shard fields (kind, dtype, item_shape,
// names, split, items, descriptors); produce(c) returns category c's rows.
PackSummary pack(Manifest header, const std::function<CategoryRows(int64_t)>& produce,
                 const PackOptions& opt);

// Shard index of every category: contiguous runs, balanced by bytes.
std::vector<int64_t> assign_shards(const std::vector<int64_t>& bytes, int64_t shards);

}  // namespace metacat
