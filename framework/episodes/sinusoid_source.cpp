#include "episodes/sinusoid_source.h"

#include <cmath>

namespace metacat {

std::pair<double, double> SinusoidSource::task(Split split, int64_t source) const {
  Rng r(seed_, static_cast<uint64_t>(split), static_cast<uint64_t>(source), Stream::kData);
  const double amplitude = r.uniform(0.1, 5.0);
  const double phase = r.uniform(0.0, M_PI);
  return {amplitude, phase};
}

Episode SinusoidSource::draw(Split split, int64_t source, const EpisodeSpec& spec,
                             Rng& rng) const {
  auto [amp, phase] = task(split, source);
  auto make = [&](int64_t n, torch::Tensor& x, torch::Tensor& y) {
    std::vector<double> xs(n), ys(n);
    for (int64_t i = 0; i < n; ++i) {
      xs[i] = rng.uniform(-5.0, 5.0);
      ys[i] = amp * std::sin(xs[i] - phase);
    }
    x = torch::tensor(xs, torch::kFloat64).reshape({n, 1}).to(dtype_);
    y = torch::tensor(ys, torch::kFloat64).to(dtype_);
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
