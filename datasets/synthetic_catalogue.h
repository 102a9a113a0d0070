#pragma once
// Synthetic e-commerce catalogue: categories that share structure, so that
// meta-learning has something to transfer.
//
// Model (every draw seeded and counter-based, so category i is the same
// whether one or all categories are generated, in any order):
//   department prototypes  u_d ~ N(0, I_f),              d = 1..D
//   category department    d(c) uniform
//   category latent        w_c = u_{d(c)} + spread * N(0, I_f)
//   category bias          b_c ~ N(0, 0.5^2)
//   items                  x ~ N(0, I_f)                  (f = feature_dim)
//   true score             z = 2 x.w_c / sqrt(f) + b_c    (the oracle)
//   labels (click/buy)     y ~ Bernoulli(sigmoid(z / label_noise)); label_noise 0: y = [z > 0]
//   descriptor             P w_c + 0.1 N(0, I)            (P a fixed random projection)
//   size                   Pareto(alpha 1.2) from min_items, capped at max_items
// Splits are by category: the last test_fraction of the categories are test
// (the cold-start ones), the val_fraction before them validation.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "episodes/item_store.h"

namespace metacat {

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
  // Temperature of the click model: labels y ~ Bernoulli(sigmoid(z / label_noise));
  // 0 gives deterministic labels y = [z > 0]. Items and the uniform draws are
  // the same at every value (1, the default, is the original catalogue).
  double label_noise = 1.0;
};

struct SyntheticCategory {
  torch::Tensor items;       // [n, feature_dim] float32
  torch::Tensor labels;      // [n] float32 in {0, 1}
  torch::Tensor oracle;      // [n] float32: the true score z of each item
  torch::Tensor descriptor;  // [descriptor_dim] float32
  int64_t department = 0;
};

class SyntheticCatalogue {
 public:
  SyntheticCatalogue(SyntheticSpec spec, uint64_t seed);
  const SyntheticSpec& spec() const { return spec_; }
  int64_t size(int64_t category) const;  // cheap: no items generated
  Split split(int64_t category) const;
  std::string name(int64_t category) const;
  SyntheticCategory generate(int64_t category) const;
  torch::Tensor descriptor(int64_t category) const;  // cheap: no items generated
  // The whole catalogue in memory (small catalogues, tests).
  std::shared_ptr<MemoryStore> to_store() const;

 private:
  struct Latent {
    int64_t department;
    std::vector<double> w;
    double bias;
    torch::Tensor descriptor;
  };
  Latent latent(int64_t category) const;
  SyntheticSpec spec_;
  uint64_t seed_;
  std::vector<std::vector<float>> prototypes_;
  std::vector<float> projection_;
  int64_t n_val_, n_test_;
};

}  // namespace metacat

#include "data/pack.h"

namespace metacat {

// Streams the catalogue into shards, one category at a time (memory stays at
// one category); dtype float32 or float16.
PackSummary pack_synthetic(const SyntheticCatalogue& catalogue, torch::ScalarType dtype,
                           const PackOptions& opt);

}  // namespace metacat
