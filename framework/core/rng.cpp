#include "core/rng.h"

#include <cmath>
#include <unordered_set>

namespace metacat {

namespace {
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed, uint64_t a, uint64_t b, Stream purpose) {
  uint64_t k = mix64(seed + kGamma);
  k = mix64(k ^ (a + 2 * kGamma));
  k = mix64(k ^ (b + 3 * kGamma));
  k = mix64(k ^ (static_cast<uint64_t>(purpose) + 4 * kGamma));
  key_ = k;
}

uint64_t Rng::next_u64() { return mix64(key_ + (++counter_) * kGamma); }

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  double u1 = uniform();
  double u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

int64_t Rng::randint(int64_t n) {
  // Rejection sampling keeps the result exactly uniform.
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return static_cast<int64_t>(x % un);
}

std::vector<int64_t> Rng::sample(int64_t n, int64_t k) {
  std::vector<int64_t> out;
  out.reserve(k);
  if (k * 4 >= n) {  // dense: partial Fisher-Yates over all n
    std::vector<int64_t> all(n);
    for (int64_t i = 0; i < n; ++i) all[i] = i;
    for (int64_t i = 0; i < k; ++i) {
      int64_t j = i + randint(n - i);
      std::swap(all[i], all[j]);
      out.push_back(all[i]);
    }
    return out;
  }
  std::unordered_set<int64_t> seen;
  while (static_cast<int64_t>(out.size()) < k) {
    int64_t v = randint(n);
    if (seen.insert(v).second) out.push_back(v);
  }
  return out;
}

}  // namespace metacat
