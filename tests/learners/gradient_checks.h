#pragma once
// Helpers the learner tests share: gradient buffers, finite differences of
// a scalar function of the parameters, and relative errors between
// gradients.
#include <torch/types.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "core/params.h"

namespace metacat::test {

// Zero tensors shaped like theta's, without a graph.
inline std::vector<torch::Tensor> zeros_like(const Params& theta) {
  std::vector<torch::Tensor> g;
  for (const auto& t : theta.tensors) g.push_back(torch::zeros_like(t).detach());
  return g;
}

// Central finite differences of f w.r.t. every element of theta.
inline std::vector<torch::Tensor> finite_difference(const Params& theta,
                                                    const std::function<double(const Params&)>& f,
                                                    double eps = 1e-6) {
  std::vector<torch::Tensor> fd;
  for (size_t i = 0; i < theta.size(); ++i) {
    torch::Tensor g = torch::zeros_like(theta.tensors[i]).detach();
    auto flat = g.view({-1});
    for (int64_t j = 0; j < g.numel(); ++j) {
      Params plus = theta.detached(false), minus = theta.detached(false);
      plus.tensors[i].view({-1})[j] += eps;
      minus.tensors[i].view({-1})[j] -= eps;
      flat[j] = (f(plus) - f(minus)) / (2 * eps);
    }
    fd.push_back(g);
  }
  return fd;
}

// |a - b| / |b| over all tensors flattened together.
inline double relative_error(const std::vector<torch::Tensor>& a,
                             const std::vector<torch::Tensor>& b) {
  torch::Tensor fa = flatten(a), fb = flatten(b);
  return (fa - fb).norm().item<double>() / fb.norm().item<double>();
}

// The largest element difference over the largest element of a.
inline double max_rel_diff(const std::vector<torch::Tensor>& a,
                           const std::vector<torch::Tensor>& b) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
    scale = std::max(scale, a[i].abs().max().item<double>());
  }
  return worst / scale;
}

}  // namespace metacat::test
