#pragma once
// Fashion-MNIST importer: reads the idx files (gzip-compressed or plain) of
// Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist),
// training and test files pooled: 70,000 28x28 grayscale product images in 10
// categories. Categories, not images, are split between meta-train and test.
#include <string>

#include "episodes/classification_source.h"

namespace metacat {

extern const char* const kFashionMnistDefaultPath;
extern const char* const kFashionMnistClasses[10];

// Items: uint8 [N, 1, 28, 28]. Throws UserError naming the missing or
// malformed file.
LabeledItems load_fashion_mnist(const std::string& dir);

// One idx file as raw bytes plus its dimensions.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxArray read_idx(const std::string& path);

}  // namespace metacat

#include "data/pack.h"

namespace metacat {

// Packs the idx files of `dir` into shards: one category per class (names
// from kFashionMnistClasses), items uint8 [1, 28, 28], item_ids the index in
// the pooled train+t10k files; classes[s] are the class ids of split s.
PackSummary pack_fashion_mnist(const std::string& dir,
                               const std::vector<std::vector<int64_t>>& classes,
                               const PackOptions& opt);

}  // namespace metacat
