#include "datasets/synthetic_catalogue.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/rng.h"

namespace metacat {

namespace {
// Stream ids within the data seed.
enum : uint64_t { kProto = 1, kProjection = 2, kCategory = 3, kSize = 5, kItems = 6 };
}  // namespace

SyntheticCatalogue::SyntheticCatalogue(SyntheticSpec s, uint64_t seed) : spec_(s), seed_(seed) {
  if (s.max_items < s.min_items)
    throw UserError("synthetic catalogue: max_items is smaller than min_items");
  if (s.val_fraction + s.test_fraction >= 1.0)
    throw UserError(
        "synthetic catalogue: val_fraction + test_fraction must leave training categories");
  if (!(s.label_noise >= 0) || !std::isfinite(s.label_noise))
    throw UserError("synthetic catalogue: label_noise must be a finite number >= 0");
  const int64_t f = s.feature_dim;
  prototypes_.resize(s.departments);
  for (int64_t d = 0; d < s.departments; ++d) {
    Rng r(seed, kProto, d, Stream::kData);
    prototypes_[d].resize(f);
    for (auto& x : prototypes_[d]) x = static_cast<float>(r.normal());
  }
  Rng pr(seed, kProjection, 0, Stream::kData);
  projection_.resize(s.descriptor_dim * f);
  for (auto& x : projection_) x = static_cast<float>(pr.normal() / std::sqrt(double(f)));
  n_test_ = static_cast<int64_t>(std::llround(s.categories * s.test_fraction));
  n_val_ = static_cast<int64_t>(std::llround(s.categories * s.val_fraction));
}

int64_t SyntheticCatalogue::size(int64_t i) const {
  Rng r(seed_, kSize, i, Stream::kData);
  const double size = spec_.min_items / std::pow(1.0 - r.uniform(), 1.0 / 1.2);
  return std::min<int64_t>(spec_.max_items, static_cast<int64_t>(size));
}

Split SyntheticCatalogue::split(int64_t i) const {
  if (i >= spec_.categories - n_test_) return Split::kTest;
  if (i >= spec_.categories - n_test_ - n_val_) return Split::kVal;
  return Split::kTrain;
}

std::string SyntheticCatalogue::name(int64_t i) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "cat-%06lld", static_cast<long long>(i));
  return buf;
}

SyntheticCatalogue::Latent SyntheticCatalogue::latent(int64_t i) const {
  const int64_t f = spec_.feature_dim;
  Rng r(seed_, kCategory, i, Stream::kData);
  Latent l;
  l.department = r.randint(spec_.departments);
  l.w.resize(f);
  for (int64_t k = 0; k < f; ++k) l.w[k] = prototypes_[l.department][k] + spec_.spread * r.normal();
  l.bias = 0.5 * r.normal();
  l.descriptor = torch::empty({spec_.descriptor_dim}, torch::kFloat32);
  for (int64_t a = 0; a < spec_.descriptor_dim; ++a) {
    double v = 0;
    for (int64_t k = 0; k < f; ++k) v += projection_[a * f + k] * l.w[k];
    l.descriptor[a] = static_cast<float>(v + 0.1 * r.normal());
  }
  return l;
}

torch::Tensor SyntheticCatalogue::descriptor(int64_t i) const { return latent(i).descriptor; }

SyntheticCategory SyntheticCatalogue::generate(int64_t i) const {
  const int64_t f = spec_.feature_dim, n = size(i);
  Latent l = latent(i);
  Rng r(seed_, kItems, i, Stream::kData);
  SyntheticCategory out;
  out.department = l.department;
  out.descriptor = l.descriptor;
  out.items = torch::empty({n, f}, torch::kFloat32);
  out.labels = torch::empty({n}, torch::kFloat32);
  out.oracle = torch::empty({n}, torch::kFloat32);
  float* x = out.items.data_ptr<float>();
  float* y = out.labels.data_ptr<float>();
  float* o = out.oracle.data_ptr<float>();
  const double scale = 2.0 / std::sqrt(double(f));
  const double noise = spec_.label_noise;
  for (int64_t j = 0; j < n; ++j) {
    double dot = 0;
    for (int64_t k = 0; k < f; ++k) {
      x[j * f + k] = static_cast<float>(r.normal());
      dot += x[j * f + k] * l.w[k];
    }
    const double z = scale * dot + l.bias;
    o[j] = static_cast<float>(z);
    // The uniform is drawn at every noise level, so that items (drawn from
    // the same stream) do not depend on it; z / 1.0 == z exactly, so the
    // default reproduces the original labels bit for bit.
    const double u = r.uniform();
    if (noise > 0)
      y[j] = u < 1.0 / (1.0 + std::exp(-(z / noise))) ? 1.0f : 0.0f;
    else
      y[j] = z > 0 ? 1.0f : 0.0f;
  }
  return out;
}

std::shared_ptr<MemoryStore> SyntheticCatalogue::to_store() const {
  std::vector<CategoryInfo> infos;
  std::vector<torch::Tensor> items, labels, desc, oracle;
  for (int64_t i = 0; i < spec_.categories; ++i) {
    SyntheticCategory c = generate(i);
    infos.push_back({name(i), split(i), c.items.size(0)});
    items.push_back(c.items);
    labels.push_back(c.labels);
    desc.push_back(c.descriptor);
    oracle.push_back(c.oracle);
  }
  torch::Tensor d = spec_.descriptor_dim > 0 ? torch::stack(desc) : torch::Tensor();
  return std::make_shared<MemoryStore>(std::move(infos), std::move(items), std::move(labels), d,
                                       std::move(oracle));
}

}  // namespace metacat

namespace metacat {

PackSummary pack_synthetic(const SyntheticCatalogue& cat, torch::ScalarType dtype,
                           const PackOptions& opt) {
  const SyntheticSpec& s = cat.spec();
  Manifest m;
  m.kind = "preference";
  m.dtype = dtype == torch::kFloat16 ? "float16" : "float32";
  m.source = "synthetic catalogue: " + std::to_string(s.categories) + " categories, " +
             std::to_string(s.departments) + " departments, feature_dim " +
             std::to_string(s.feature_dim) + ", items " + std::to_string(s.min_items) + ".." +
             std::to_string(s.max_items) +
             (s.label_noise != 1.0 ? ", label_noise " + std::to_string(s.label_noise) : "");
  m.item_shape = {s.feature_dim};
  std::vector<int64_t> first_id(s.categories + 1, 0);
  for (int64_t i = 0; i < s.categories; ++i) {
    m.names.push_back(cat.name(i));
    m.split.push_back(cat.split(i));
    m.items.push_back(cat.size(i));
    first_id[i + 1] = first_id[i] + m.items.back();
  }
  if (s.descriptor_dim > 0) {
    std::vector<torch::Tensor> d;
    for (int64_t i = 0; i < s.categories; ++i) d.push_back(cat.descriptor(i));
    m.descriptors = torch::stack(d);
  }
  PackSummary sum = pack(
      m,
      [&](int64_t c) {
        SyntheticCategory g = cat.generate(c);
        return CategoryRows{g.items.to(dtype),
                            g.labels,
                            torch::arange(first_id[c], first_id[c + 1], torch::kInt64),
                            g.oracle,
                            {}};
      },
      opt);
  return sum;
}

}  // namespace metacat
