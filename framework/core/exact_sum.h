#pragma once
// ExactSum: an order-independent sum of float vectors, for meta-gradients
// that must come out bit-identical however tasks are spread over ranks
// (comm.reduction: exact).
//
// Every added value v is turned into the integer N = trunc(v * 2^64) (exact
// for every float whose lowest set bit is >= 2^-64: all float32 values of
// magnitude >= 2^-41, and the higher bits of smaller ones), split into three
// 64-bit limbs holding bits 0-31, 32-63 and 64+ (signed) of N. Limbs add as
// integers, which is associative and commutative: any grouping of the same
// values (tasks on one rank or on four, added in any order, all-reduced in
// any tree) gives the same limbs, and so the same float.
// Range: |v| < 2^40 per added value, up to 2^22 added vectors; values
// outside it (and NaN, inf) are counted, not added (out_of_range()).
// Doubles are accepted on the same grid: all 53 bits of a double are kept
// only for |v| >= 2^-11 (a float's 24 for |v| >= 2^-40).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace metacat {

class ExactSum {
 public:
  static constexpr int kLimbs = 3;
  static constexpr double kMaxMagnitude = 1099511627776.0;  // 2^40

  explicit ExactSum(size_t n = 0) { resize(n); }
  void resize(size_t n);
  size_t size() const { return n_; }
  void clear();
  // Adds v[0..count) into elements offset..offset+count.
  void add(const float* v, size_t offset, size_t count);
  void add(const double* v, size_t offset, size_t count);
  void add(const ExactSum& other);
  // The limbs and the out-of-range count, as one int64 array that sums
  // elementwise (an all-reduce with MPI_SUM on int64 keeps it exact).
  int64_t* words() { return words_.data(); }
  size_t word_count() const { return words_.size(); }
  // Values not added (non-finite, or |v| >= 2^40), over every add so far.
  int64_t out_of_range() const { return words_.back(); }
  // The sums, each rounded once to the output type.
  void to(float* out) const;
  void to(double* out) const;

 private:
  size_t n_ = 0;
  std::vector<int64_t> words_;  // [n][kLimbs] limbs, then the out-of-range count
};

}  // namespace metacat
