#include "datasets/synthetic_catalogue.h"

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "episodes/task_source.h"

namespace metacat {

namespace {
std::vector<float> normals(Rng& r, int64_t n, double scale = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(scale * r.normal());
  return v;
}
}  // namespace

Catalogue generate_catalogue(const SyntheticSpec& s, uint64_t seed) {
  if (s.max_items < s.min_items)
    throw UserError("data.synthetic.max_items is smaller than data.synthetic.min_items");
  if (s.val_fraction + s.test_fraction >= 1.0)
    throw UserError("data.synthetic: val_fraction + test_fraction must leave training categories");
  const int64_t f = s.feature_dim;
  Catalogue c;
  c.feature_dim = f;
  c.descriptor_dim = s.descriptor_dim;
  std::vector<std::vector<float>> proto(s.departments);
  for (int64_t d = 0; d < s.departments; ++d) {
    Rng r(seed, 1, d, Stream::kData);
    proto[d] = normals(r, f);
  }
  Rng pr(seed, 2, 0, Stream::kData);
  std::vector<float> projection = normals(pr, s.descriptor_dim * f, 1.0 / std::sqrt(double(f)));
  std::vector<float> desc(s.categories * s.descriptor_dim);
  const int64_t n_test = static_cast<int64_t>(std::llround(s.categories * s.test_fraction));
  const int64_t n_val = static_cast<int64_t>(std::llround(s.categories * s.val_fraction));
  for (int64_t i = 0; i < s.categories; ++i) {
    Rng r(seed, 3, i, Stream::kData);
    const int64_t dept = r.randint(s.departments);
    std::vector<float> w(f);
    for (int64_t k = 0; k < f; ++k) w[k] = proto[dept][k] + s.spread * r.normal();
    const double bias = 0.5 * r.normal();
    // Power-law (Pareto, alpha = 1.2) sizes clipped to [min, max].
    const double u = r.uniform();
    double size = s.min_items / std::pow(1.0 - u, 1.0 / 1.2);
    const int64_t n = std::min<int64_t>(s.max_items, static_cast<int64_t>(size));
    std::vector<float> x = normals(r, n * f);
    std::vector<float> y(n);
    for (int64_t j = 0; j < n; ++j) {
      double z = 0;
      for (int64_t k = 0; k < f; ++k) z += x[j * f + k] * w[k];
      const double p = 1.0 / (1.0 + std::exp(-(2.0 * z / std::sqrt(double(f)) + bias)));
      y[j] = r.uniform() < p ? 1.0f : 0.0f;
    }
    for (int64_t a = 0; a < s.descriptor_dim; ++a) {
      double v = 0;
      for (int64_t k = 0; k < f; ++k) v += projection[a * f + k] * w[k];
      desc[i * s.descriptor_dim + a] = static_cast<float>(v + 0.1 * r.normal());
    }
    // Splits by position: the last categories are test, those before them val.
    Split sp = i >= s.categories - n_test ? Split::kTest
               : i >= s.categories - n_test - n_val ? Split::kVal
                                                    : Split::kTrain;
    char name[32];
    std::snprintf(name, sizeof name, "cat-%06lld", static_cast<long long>(i));
    c.names.push_back(name);
    c.split.push_back(sp);
    c.department.push_back(dept);
    c.items.push_back(torch::tensor(x).reshape({n, f}));
    c.labels.push_back(torch::tensor(y));
  }
  c.descriptors = torch::tensor(desc).reshape({s.categories, s.descriptor_dim});
  return c;
}

}  // namespace metacat
