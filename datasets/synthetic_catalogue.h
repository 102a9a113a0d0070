#pragma once
// Synthetic e-commerce catalogue: categories that share structure, so that
// meta-learning has something to transfer.
//
// Model (all draws seeded, counter-based):
//   department prototypes  u_d ~ N(0, I_f),              d = 1..D
//   category latent        w_c = u_{dept(c)} + spread * N(0, I_f)
//   category bias          b_c ~ N(0, 0.5^2)
//   items                  x ~ N(0, I_f)       (f = feature_dim)
//   labels (click/buy)     y ~ Bernoulli(sigmoid(2 * x.w_c / sqrt(f) + b_c))
//   descriptor             P w_c + 0.1 N(0, I)  (P a fixed random projection)
//   size                   power law between min_items and max_items
// Splits are by category: the test categories are the cold-start ones.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace metacat {

enum class Split;

struct SyntheticSpec {
  int64_t categories = 300;
  int64_t departments = 8;
  int64_t feature_dim = 16;
  int64_t descriptor_dim = 8;
  int64_t min_items = 60;
  int64_t max_items = 600;
  double spread = 0.5;
  double val_fraction = 0.1;
  double test_fraction = 0.2;
};

struct Catalogue {
  int64_t feature_dim = 0;
  int64_t descriptor_dim = 0;
  std::vector<std::string> names;
  std::vector<Split> split;
  std::vector<int64_t> department;
  std::vector<torch::Tensor> items;   // [n_c, feature_dim] float32
  std::vector<torch::Tensor> labels;  // [n_c] float32 in {0, 1}
  torch::Tensor descriptors;          // [C, descriptor_dim] float32
};

Catalogue generate_catalogue(const SyntheticSpec& spec, uint64_t seed);

}  // namespace metacat
