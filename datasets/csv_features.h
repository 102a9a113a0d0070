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
  std::vector<double> ratios = {0.7, 0.1, 0.2};     // train, val, test
  std::vector<std::vector<std::string>> names;      // if set: names per split
  uint64_t seed = 0;
};

PackSummary pack_csv(const std::string& path, const CsvSplit& split, torch::ScalarType dtype,
                     const PackOptions& opt);

}  // namespace metacat
