#pragma once
// Declared schemas for tabular interaction logs:
//   metacat pack --source csv --input LOG.csv --schema SCHEMA.yaml --out DIR
//
// The CSV (comma- or tab-separated, no quoting) starts with a header that
// names its columns; the schema gives every column a role:
//
//   columns:
//     user_id:  {role: task}                 # one task per value (a user, a category)
//     item_id:  {role: item, min_count: 1}   # the item; unique within a task
//     click:    {role: label}                # 0 or 1
//     price:    {role: numeric}
//     brand:    {role: categorical, min_count: 2}
//     shop:     {role: categorical, hash_buckets: 4096}
//     tags:     {role: multi, separator: "|", max_len: 4}
//     history:  {role: sequence, separator: " ", max_len: 10, vocabulary: item_id}
//     segment:  {role: categorical}
//     z:        {role: oracle}               # optional: the true score (synthetic data)
//     ts:       {role: ignore}
//
// Roles: task and label (exactly one each), item (at most one), user (at
// most one: a coded column like categorical, and with it an item may come
// once per user in a task instead of once per task: a log's tasks per
// category), numeric,
// categorical (one value), multi (values split by `separator`, at most
// `max_len` kept, in order), sequence (the same, but order matters and the
// last `max_len` are kept: the most recent), oracle (at most one), ignore.
// Coded columns (item, categorical, multi, sequence) get a vocabulary built
// at pack time over the whole file: values seen at least `min_count` times
// (default 1), at most `max_size` of them (0: no cap) most frequent first,
// as codes 2, 3, ...; every other value is code 1 (out of vocabulary) and
// an empty cell or token is 0 (padding). `hash_buckets: N` codes a value as
// 2 + (XXH64(value) mod N) instead, with no vocabulary (huge id spaces).
// `vocabulary: COLUMN` shares another coded column's vocabulary (and, in
// the embedding model, its table): a click history coded as items.
// A vocabulary holds at most 2^24 codes (core/fields.h); a larger one is
// refused with the advice to hash.
//
// Packed: tasks become the dataset's categories (split by --split-ratios or
// the name lists, as for csv), numeric columns the float32 `items`, coded
// columns the int32 `codes`, the item's first-appearance index in the file
// `item_ids`, an oracle column `oracle`; the manifest holds the layout
// (fields), the vocabularies and the schema's text (data/manifest.h).
// Every violation is an error naming the file, the line and the column: a
// row with the wrong number of cells, an empty task key or item, a label
// other than 0/1, a numeric cell that is not a finite number, an item twice
// in one task; and in the schema: an unknown role or key, a column missing
// from the header or a header column missing from the schema.
#include <string>
#include <vector>

#include "data/pack.h"
#include "datasets/csv_features.h"

namespace metacat {

struct ColumnSpec {
  std::string name;
  // task | label | item | user | numeric | categorical | multi | sequence | oracle | ignore
  std::string role;
  int64_t min_count = 1;
  int64_t max_size = 0;
  int64_t hash_buckets = 0;
  std::string separator = "|";
  int64_t max_len = 8;
  std::string vocabulary;  // another column's vocabulary; empty: its own
  bool coded() const;
};

struct Schema {
  std::vector<ColumnSpec> columns;  // in the schema file's order
  std::string text;                 // the file as read
  const ColumnSpec* find(const std::string& name) const;
  // The column with `role` (task, label, item, oracle), or nullptr.
  const ColumnSpec* with_role(const std::string& role) const;
};

// Reads and checks a schema; UserError naming the file and the column.
Schema load_schema(const std::string& path);
Schema parse_schema(const std::string& yaml, const std::string& path);

PackSummary pack_csv_schema(const std::string& csv, const Schema& schema, const CsvSplit& split,
                            const PackOptions& opt);

}  // namespace metacat
