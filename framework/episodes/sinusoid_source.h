#pragma once
// Sinusoid regression (Finn et al. 2017): y = A sin(x - phi) with amplitude
// A ~ U[0.1, 5], phase phi ~ U[0, pi], inputs x ~ U[-5, 5]. A task source is
// one (A, phi), fixed by (seed, split, source id), so splits never share a task.
#include "episodes/task_source.h"

namespace metacat {

class SinusoidSource : public TaskSource {
 public:
  SinusoidSource(uint64_t seed, int64_t tasks_per_split) : seed_(seed), tasks_(tasks_per_split) {}
  TaskKind kind() const override { return TaskKind::kRegression; }
  std::vector<int64_t> input_shape() const override { return {1}; }
  int64_t num_sources(Split) const override { return tasks_; }
  Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const override;
  void check(Split, const EpisodeSpec&) const override {}
  std::string describe() const override;
  // Amplitude and phase of a task.
  std::pair<double, double> task(Split split, int64_t source) const;

 private:
  uint64_t seed_;
  int64_t tasks_;
};

}  // namespace metacat
