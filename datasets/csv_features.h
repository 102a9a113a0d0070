#pragma once
// CSV/TSV importer for per-category preference data:
//   category,item_id,label,f1,...,fd        (a header line is optional)
// one row per labelled interaction; label 0 or 1; the same d on every row;
// tab-separated when the first line has a tab. Rows of a category need not
// be contiguous. Categories are split train/val/test either by explicit name
// lists or by ratios over a seeded shuffle. The file is held in memory while
// packing (fine for files a person exports; synthetic catalogues stream).
#include <string>
#include <vector>

#include "data/pack.h"

namespace metacat {

struct CsvSplit {
  std::vector<double> ratios = {0.7, 0.1, 0.2};  // train, val, test
  std::vector<std::vector<std::string>> names;   // if set: names per split
  uint64_t seed = 0;
  // Schema packs with an item column (--new-items): this share of the item
  // values, drawn by a seeded hash of the value, is left out of the
  // training tasks (their rows there are dropped, and their mentions in
  // columns of the item's vocabulary, such as click histories, removed) and
  // stays in the validation and test tasks: new items.
  double new_items = 0;
};

// Each category (task key, in `order`) gets its split: by the name lists of
// `split` when given (a name not in the data or in two lists is refused),
// else by its ratios over a seeded shuffle.
std::vector<Split> assign_splits(const std::vector<std::string>& order, const CsvSplit& split,
                                 const std::string& path);

PackSummary pack_csv(const std::string& path, const CsvSplit& split, torch::ScalarType dtype,
                     const PackOptions& opt);

// A new category's labelled examples for `metacat adapt`:
//   label,f1,...,fd        (comma or tab separated; a header line is optional)
// label 0 or 1, exactly `dim` features. Errors name the file, the row (its
// line number) and the column (number, and header name when there is one);
// an empty file, or a set without a positive or without a negative label,
// is refused.
struct SupportSet {
  torch::Tensor x;  // [n, dim] float32
  torch::Tensor y;  // [n] float32 0/1
  int64_t positives = 0, negatives = 0;
};
SupportSet read_support_csv(const std::string& path, int64_t dim);
// One row of `dim` numbers (a header line is optional): a category descriptor.
torch::Tensor read_vector_csv(const std::string& path, int64_t dim, const std::string& what);

}  // namespace metacat
