#include "core/exact_sum.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace metacat {

namespace {

using u128 = unsigned __int128;
using i128 = __int128;

// IEEE-754 layout of the two input types.
template <typename T>
struct Layout;
template <>
struct Layout<float> {
  using Bits = uint32_t;
  static constexpr int kMantissa = 23, kExpMask = 0xff, kBias = 127;
};
template <>
struct Layout<double> {
  using Bits = uint64_t;
  static constexpr int kMantissa = 52, kExpMask = 0x7ff, kBias = 1023;
};

// Adds (or, for negative values, subtracts) the limbs of trunc(|v| * 2^64)
// into w[0..2]; returns false, adding nothing, for a value out of range.
template <typename T>
inline bool add_one(T v, int64_t* w) {
  using L = Layout<T>;
  typename L::Bits bits;
  std::memcpy(&bits, &v, sizeof bits);
  const int exp = static_cast<int>((bits >> L::kMantissa) & L::kExpMask);
  const bool negative = (bits >> (sizeof bits * 8 - 1)) != 0;
  if (exp == 0) return true;  // zero or subnormal: below 2^-126, truncates to 0
  // |v| < 2^40  <=>  unbiased exponent < 40 (also rejects inf and NaN).
  if (exp - L::kBias >= 40) return false;
  const uint64_t m = (static_cast<uint64_t>(bits) & ((uint64_t{1} << L::kMantissa) - 1)) |
                     (uint64_t{1} << L::kMantissa);
  // |v| = m * 2^(exp - bias - mantissa); times 2^64:
  const int shift = exp - L::kBias - L::kMantissa + 64;
  u128 u;
  if (shift >= 0)
    u = static_cast<u128>(m) << shift;  // below 2^(40 + 64)
  else if (shift > -64)
    u = m >> -shift;  // truncated: bits below 2^-64
  else
    return true;
  const auto lo = static_cast<int64_t>(static_cast<uint64_t>(u) & 0xffffffffu);
  const auto mid = static_cast<int64_t>(static_cast<uint64_t>(u >> 32) & 0xffffffffu);
  const auto hi = static_cast<int64_t>(static_cast<uint64_t>(u >> 64));
  if (negative)
    w[0] -= lo, w[1] -= mid, w[2] -= hi;
  else
    w[0] += lo, w[1] += mid, w[2] += hi;
  return true;
}

template <typename T>
void add_range(const T* v, size_t count, int64_t* words, int64_t* out_of_range) {
  int64_t bad = 0;
  for (size_t i = 0; i < count; ++i) bad += add_one(v[i], words + ExactSum::kLimbs * i) ? 0 : 1;
  *out_of_range += bad;
}

// The exact sum of element i, times 2^64.
inline i128 total(const int64_t* w) {
  return static_cast<i128>(w[2]) * (static_cast<i128>(1) << 64) +
         static_cast<i128>(w[1]) * (static_cast<i128>(1) << 32) + static_cast<i128>(w[0]);
}

}  // namespace

void ExactSum::resize(size_t n) {
  n_ = n;
  words_.assign(kLimbs * n + 1, 0);
}

void ExactSum::clear() { std::fill(words_.begin(), words_.end(), 0); }

void ExactSum::add(const float* v, size_t offset, size_t count) {
  if (offset + count > n_) throw std::out_of_range("ExactSum::add: past the end");
  add_range(v, count, words_.data() + kLimbs * offset, &words_.back());
}

void ExactSum::add(const double* v, size_t offset, size_t count) {
  if (offset + count > n_) throw std::out_of_range("ExactSum::add: past the end");
  add_range(v, count, words_.data() + kLimbs * offset, &words_.back());
}

void ExactSum::add(const ExactSum& other) {
  if (other.n_ != n_) throw std::invalid_argument("ExactSum::add: sizes differ");
  for (size_t i = 0; i < words_.size(); ++i) words_[i] += other.words_[i];
}

// The conversion from the 128-bit integer rounds to nearest; the
// power-of-two scaling after it is exact above the subnormal range. Equal
// limbs give equal bits: that is the guarantee.
void ExactSum::to(float* out) const {
  for (size_t i = 0; i < n_; ++i)
    out[i] = std::ldexp(static_cast<float>(total(&words_[kLimbs * i])), -64);
}

void ExactSum::to(double* out) const {
  for (size_t i = 0; i < n_; ++i)
    out[i] = std::ldexp(static_cast<double>(total(&words_[kLimbs * i])), -64);
}

}  // namespace metacat
