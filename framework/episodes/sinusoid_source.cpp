#include "episodes/sinusoid_source.h"

#include <cmath>

namespace metacat {

std::pair<double, double> SinusoidSource::task(Split split, int64_t source) const {
  Rng r(seed_, static_cast<uint64_t>(split), static_cast<uint64_t>(source), Stream::kData);
  const double amplitude = r.uniform(0.1, 5.0);
  const double phase = r.uniform(0.0, M_PI);
  return {amplitude, phase};
}

Episode SinusoidSource::draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const {
  // Named copies, not a structured binding: lambdas capture them (C++17).
  const std::pair<double, double> ap = task(split, source);
  const double amp = ap.first, phase = ap.second;
  // Written straight into tensors of the run's dtype: two allocations per
  // set, no conversions (episodes are drawn every meta-step).
  auto make = [&](int64_t n, torch::Tensor& x, torch::Tensor& y) {
    x = torch::empty({n, 1}, dtype_);
    y = torch::empty({n}, dtype_);
    auto fill = [&](auto* xp, auto* yp) {
      for (int64_t i = 0; i < n; ++i) {
        const double v = rng.uniform(-5.0, 5.0);
        xp[i] = static_cast<std::remove_reference_t<decltype(*xp)>>(v);
        yp[i] = static_cast<std::remove_reference_t<decltype(*yp)>>(amp * std::sin(v - phase));
      }
    };
    if (dtype_ == torch::kFloat64)
      fill(x.data_ptr<double>(), y.data_ptr<double>());
    else
      fill(x.data_ptr<float>(), y.data_ptr<float>());
  };
  Episode e;
  make(spec.shots, e.support_x, e.support_y);
  make(spec.queries, e.query_x, e.query_y);
  e.source = source;
  return e;
}

std::string SinusoidSource::describe() const {
  return "sinusoid regression, " + std::to_string(tasks_) + " tasks per split";
}

}  // namespace metacat
