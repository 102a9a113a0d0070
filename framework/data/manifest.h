#pragma once
// The manifest of a sharded dataset (DIR/manifest.h5) and the shard layout.
//
// manifest.h5
//   attributes   format_version, kind (classification|preference), dtype
//                (uint8|float16|float32), source (free text)
//   /item_shape            int64 [k]       shape of one item
//   /categories/id         int64 [C]       0..C-1, the category's id
//   /categories/name       string [C]
//   /categories/split      uint8 [C]       0 train, 1 val, 2 test, 3 none
//   /categories/items      int64 [C]       rows of the category
//   /categories/shard      int64 [C]       the shard holding it
//   /shards/bytes          int64 [S]       file size
//   /shards/xxh64          string [S]      XXH64 of the file, hex
//   /descriptors           float32 [C, D]  optional category descriptors
//   Tabular data packed with a schema (datasets/schema.h) also has:
//   attribute schema       the schema's YAML
//   /fields/{name, role, table} string [F], /fields/{offset, width, vocab}
//                          int64 [F]: the model input's layout (core/fields.h)
//   /vocabularies/<table>  string [V]      the values of codes 2..V+1 (hashed
//                          tables have none)
// shard-NNNNN.h5
//   /categories/<id, 8 digits>/{items, labels, item_ids}, chunked along rows,
//   shuffle + deflate, Fletcher-32 per chunk; attribute `name` on the group.
//   With a schema also `codes` int32 [n, K]: the coded columns, which follow
//   the numeric ones (`items`, [n, item_shape]) in the model input.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/fields.h"
#include "episodes/task_source.h"

namespace metacat {

struct Manifest {
  int64_t format_version = 1;
  std::string kind;   // classification | preference
  std::string dtype;  // uint8 | float16 | float32
  std::string source;
  std::vector<int64_t> item_shape;
  std::vector<std::string> names;
  std::vector<Split> split;
  std::vector<int64_t> items, shard;
  std::vector<int64_t> shard_bytes;
  std::vector<uint64_t> shard_xxh64;
  torch::Tensor descriptors;  // undefined when absent
  // Packed with a schema: the model input's layout, the vocabularies
  // (table -> values of codes 2, 3, ...; hashed tables absent) and the
  // schema's YAML. Empty otherwise.
  std::vector<InputField> fields;
  std::vector<std::pair<std::string, std::vector<std::string>>> vocabularies;
  std::string schema;
  // Columns of the shards' `codes` (0 without a schema).
  int64_t code_width() const;

  int64_t num_categories() const { return static_cast<int64_t>(names.size()); }
  int64_t num_shards() const { return static_cast<int64_t>(shard_bytes.size()); }
  int64_t row_bytes() const;
  torch::ScalarType scalar_type() const;
};

constexpr int64_t kManifestFormat = 1;

std::string manifest_path(const std::string& dir);
std::string shard_name(int64_t shard);   // "shard-00007.h5"
std::string category_group(int64_t id);  // "categories/00000042"

void write_manifest(const std::string& dir, const Manifest& m);  // atomic
// Reads and validates DIR/manifest.h5; throws UserError naming what is wrong.
Manifest read_manifest(const std::string& dir);

// XXH64 of a whole file (streamed).
uint64_t file_xxh64(const std::string& path);

}  // namespace metacat
