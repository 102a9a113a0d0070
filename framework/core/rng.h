#pragma once
// Counter-based random numbers.
//
// A stream is a pure function of its key (seed and up to three counters, e.g.
// (seed, meta-step, task slot, purpose)) and the position in the stream: no
// hidden state is shared between streams, so what task slot g of step s sees
// does not depend on which rank draws it, in which order, or what was drawn
// before. The generator is SplitMix64 started from a key that is itself
// SplitMix-mixed from the inputs: output i is mix(key + (i+1)·γ).
#include <cstdint>
#include <vector>

namespace metacat {

// Purposes keep streams with the same (seed, a, b) apart.
enum class Stream : uint64_t {
  kTrainTask = 1,
  kEvalTask = 2,
  kInit = 3,
  kData = 4,
  kBaseline = 5,
};

class Rng {
 public:
  Rng(uint64_t seed, uint64_t a = 0, uint64_t b = 0, Stream purpose = Stream::kData);
  uint64_t next_u64();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1), Box-Muller
  int64_t randint(int64_t n);            // [0, n), unbiased
  // k distinct values from [0, n) in random order; requires k <= n.
  std::vector<int64_t> sample(int64_t n, int64_t k);
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
      int64_t j = randint(i + 1);
      std::swap(v[i], v[j]);
    }
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

uint64_t mix64(uint64_t x);

}  // namespace metacat
